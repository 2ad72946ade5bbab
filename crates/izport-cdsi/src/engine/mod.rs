//! The CDSi processing model (Logic Specification 4.6, chapter 4): organize the history, create
//! the relevant patient series, evaluate and forecast each, select the best series, and build
//! vaccine group forecasts. Pure: everything comes from the arguments.

mod evaluate;
mod forecast;
mod group;
mod select;
mod skip;

use crate::data::*;
use crate::date::{add_days, Offset};
use jiff::civil::{date, Date};

pub(crate) const MIN_DATE: Date = date(1900, 1, 1);
pub(crate) const MAX_DATE: Date = date(2999, 12, 31);

// ---------------------------------------------------------------------------------------------
// Inputs

/// The patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patient {
    /// Date of birth.
    pub birth_date: Date,
    /// Gender.
    pub gender: Gender,
    /// Country of birth (compared with birth-date immunity's country, e.g. `U.S.`).
    pub birth_country: Option<String>,
}

/// A lot expiration date; one known only by month and year ends on the month's last day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LotExpiration {
    /// Full date.
    Date(Date),
    /// Month and year only.
    Month {
        /// Year.
        year: i16,
        /// Month 1–12.
        month: i8,
    },
}

impl LotExpiration {
    fn date(self) -> Option<Date> {
        match self {
            LotExpiration::Date(d) => Some(d),
            LotExpiration::Month { year, month } => crate::date::last_day_of_month(year, month),
        }
    }
}

/// A vaccine dose administered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdministeredDose {
    /// The caller's id, echoed in the results.
    pub id: String,
    /// Date administered.
    pub date: Date,
    /// CVX.
    pub cvx: Cvx,
    /// Manufacturer (MVX), if known.
    pub mvx: Option<String>,
    /// Lot expiration, if known.
    pub lot_expiration: Option<LotExpiration>,
    /// A dose condition (recall, cold-chain break, sub-potent ...).
    pub substandard: bool,
}

/// An active patient observation (CDSi code such as `042`), with its date if known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservationCode {
    /// CDSi observation code.
    pub code: String,
    /// Observation date (used by intervals measured from an observation).
    pub date: Option<Date>,
}

// ---------------------------------------------------------------------------------------------
// Outputs

/// Evaluation status of a dose (Table 3-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvaluationStatus {
    /// Counts.
    Valid,
    /// Must be repeated.
    NotValid,
    /// Does not count and need not be repeated.
    Extraneous,
    /// Expired lot or dose condition; must be repeated.
    SubStandard,
}

impl EvaluationStatus {
    /// `Valid`, `Not Valid`, `Extraneous`, `Sub-standard`.
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationStatus::Valid => "Valid",
            EvaluationStatus::NotValid => "Not Valid",
            EvaluationStatus::Extraneous => "Extraneous",
            EvaluationStatus::SubStandard => "Sub-standard",
        }
    }
}

/// Why a dose got its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvaluationReason {
    /// Given after the lot expired.
    Expired,
    /// A dose condition was reported.
    DoseCondition,
    /// A vaccine never to be given for this dose.
    Inadvertent,
    /// Before the absolute minimum age.
    AgeTooYoung,
    /// Between absolute minimum and minimum age.
    AgeGracePeriod,
    /// At or after the maximum age.
    AgeTooOld,
    /// Before an absolute minimum interval.
    IntervalTooSoon,
    /// Between absolute minimum and minimum interval.
    IntervalGracePeriod,
    /// Preferable intervals failed; an allowable interval was met.
    AllowableInterval,
    /// Within a live virus conflict.
    LiveVirusConflict,
    /// Preferable vaccine given outside its age range.
    PreferableVaccineOutOfAge,
    /// Preferable vaccine type, but another product (trade name / MVX).
    PreferableVaccineWrongProduct,
    /// Not preferable, but an allowable vaccine.
    AllowableVaccine,
    /// Allowable vaccine given outside its age range.
    AllowableVaccineOutOfAge,
    /// Neither preferable nor allowable for this dose.
    NotPreferableOrAllowable,
    /// The series had no target dose left.
    SeriesAlreadyComplete,
}

impl EvaluationReason {
    /// A short label.
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationReason::Expired => "Expired",
            EvaluationReason::DoseCondition => "Dose condition",
            EvaluationReason::Inadvertent => "Inadvertent administration",
            EvaluationReason::AgeTooYoung => "Age: too young",
            EvaluationReason::AgeGracePeriod => "Age: grace period",
            EvaluationReason::AgeTooOld => "Age: too old",
            EvaluationReason::IntervalTooSoon => "Interval: too soon",
            EvaluationReason::IntervalGracePeriod => "Interval: grace period",
            EvaluationReason::AllowableInterval => "Allowable interval",
            EvaluationReason::LiveVirusConflict => "Live virus conflict",
            EvaluationReason::PreferableVaccineOutOfAge => "Preferable vaccine out of age range",
            EvaluationReason::PreferableVaccineWrongProduct => "Preferable vaccine: other product",
            EvaluationReason::AllowableVaccine => "Allowable vaccine",
            EvaluationReason::AllowableVaccineOutOfAge => "Allowable vaccine out of age range",
            EvaluationReason::NotPreferableOrAllowable => "Not a preferable or allowable vaccine",
            EvaluationReason::SeriesAlreadyComplete => "Series already complete",
        }
    }
}

impl EvaluationReason {
    const ALL: [EvaluationReason; 16] = [
        EvaluationReason::Expired,
        EvaluationReason::DoseCondition,
        EvaluationReason::Inadvertent,
        EvaluationReason::AgeTooYoung,
        EvaluationReason::AgeGracePeriod,
        EvaluationReason::AgeTooOld,
        EvaluationReason::IntervalTooSoon,
        EvaluationReason::IntervalGracePeriod,
        EvaluationReason::AllowableInterval,
        EvaluationReason::LiveVirusConflict,
        EvaluationReason::PreferableVaccineOutOfAge,
        EvaluationReason::PreferableVaccineWrongProduct,
        EvaluationReason::AllowableVaccine,
        EvaluationReason::AllowableVaccineOutOfAge,
        EvaluationReason::NotPreferableOrAllowable,
        EvaluationReason::SeriesAlreadyComplete,
    ];
    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of evaluation reasons (cheap to copy), iterated in a fixed order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Reasons(u32);

impl Reasons {
    /// No reason.
    pub const fn empty() -> Reasons {
        Reasons(0)
    }
    /// A set of one reason.
    pub fn one(r: EvaluationReason) -> Reasons {
        Reasons(r.bit())
    }
    /// Adds a reason.
    pub fn push(&mut self, r: EvaluationReason) {
        self.0 |= r.bit();
    }
    /// Whether the set holds a reason.
    pub fn contains(&self, r: EvaluationReason) -> bool {
        self.0 & r.bit() != 0
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    /// The reasons.
    pub fn iter(&self) -> impl Iterator<Item = EvaluationReason> + '_ {
        EvaluationReason::ALL
            .into_iter()
            .filter(move |r| self.contains(*r))
    }
}

impl std::fmt::Debug for Reasons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Target dose status (Table 3-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetDoseStatus {
    /// Not met yet.
    NotSatisfied,
    /// Met by a valid dose.
    Satisfied,
    /// Not needed.
    Skipped,
}

/// Patient series / vaccine group status (Table 3-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeriesStatus {
    /// More doses needed.
    NotComplete,
    /// Done.
    Complete,
    /// Evidence of immunity.
    Immune,
    /// Do not vaccinate.
    Contraindicated,
    /// Past the maximum age before completing.
    AgedOut,
    /// Nothing recommended now (doses skipped, or past the season).
    NotRecommended,
}

impl SeriesStatus {
    /// `Not Complete`, `Complete`, `Immune`, `Contraindicated`, `Aged Out`, `Not Recommended`.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesStatus::NotComplete => "Not Complete",
            SeriesStatus::Complete => "Complete",
            SeriesStatus::Immune => "Immune",
            SeriesStatus::Contraindicated => "Contraindicated",
            SeriesStatus::AgedOut => "Aged Out",
            SeriesStatus::NotRecommended => "Not Recommended",
        }
    }
}

/// Why the forecast step gave a patient series (or a vaccine group) its status: the branch of
/// chapter 7's decision that applied (7.2 – 7.5, Table 7-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForecastReason {
    /// A dose is needed: the next target dose is forecast (Not Complete).
    DoseNeeded,
    /// No target dose is left and at least one was satisfied (Complete).
    SeriesComplete,
    /// No target dose is left and none was satisfied: every one was skipped (Not Recommended).
    DosesSkipped,
    /// The patient has evidence of immunity (Immune).
    EvidenceOfImmunity,
    /// An antigen contraindication applies, or every preferable vaccine of the series is
    /// contraindicated (Contraindicated).
    Contraindication,
    /// The assessment date is past the end of the target dose's season (Not Recommended).
    PastSeasonEnd,
    /// The patient is at or past the target dose's maximum age (Aged Out).
    MaximumAgeReached,
    /// The earliest date of the target dose is at or after its maximum age: the series cannot
    /// be finished in time (Aged Out).
    CannotFinishBeforeMaximumAge,
}

impl ForecastReason {
    /// A short label.
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastReason::DoseNeeded => "Next dose needed",
            ForecastReason::SeriesComplete => "Series complete",
            ForecastReason::DosesSkipped => "Remaining doses skipped: none needed",
            ForecastReason::EvidenceOfImmunity => "Evidence of immunity",
            ForecastReason::Contraindication => "Contraindication",
            ForecastReason::PastSeasonEnd => "Past the end of the season",
            ForecastReason::MaximumAgeReached => "Maximum age reached",
            ForecastReason::CannotFinishBeforeMaximumAge => {
                "Series cannot be finished before the maximum age"
            }
        }
    }
}

/// One dose's evaluation within one patient series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoseEvaluation {
    /// Index of the dose in the `doses` argument.
    pub dose: usize,
    /// Date administered.
    pub date: Date,
    /// CVX.
    pub cvx: Cvx,
    /// Status.
    pub status: EvaluationStatus,
    /// Reasons.
    pub reasons: Reasons,
    /// 1-based target dose number the dose was evaluated against (None when no target was
    /// left).
    pub target_dose: Option<usize>,
}

/// A target dose after evaluation and forecast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetDose {
    /// Index of the series dose it tracks (recurring doses repeat an index).
    pub series_dose: usize,
    /// Status.
    pub status: TargetDoseStatus,
    /// The dose (index in `doses`) that satisfied it.
    pub satisfied_by: Option<usize>,
}

/// The forecast of one patient series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesForecast {
    /// 1-based number of the target dose forecast.
    pub target_dose: usize,
    /// Forecast dose number (FORECASTDN-1).
    pub dose_number: u32,
    /// Earliest date.
    pub earliest: Option<Date>,
    /// Recommended date (adjusted).
    pub recommended: Option<Date>,
    /// Past-due date (adjusted).
    pub past_due: Option<Date>,
    /// Latest date.
    pub latest: Option<Date>,
    /// Unadjusted recommended date.
    pub unadjusted_recommended: Option<Date>,
    /// Unadjusted past-due date.
    pub unadjusted_past_due: Option<Date>,
    /// Recommended vaccine types.
    pub recommended_vaccines: Vec<Cvx>,
    /// Every preferable interval of the forecast target dose has priority (FORECASTPRIORITY-1).
    pub interval_priority: bool,
}

/// A relevant patient series after evaluation and forecast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientSeries<'a> {
    /// Index of the series in the antigen's `series`.
    pub series_index: usize,
    /// Series name.
    pub name: &'a str,
    /// Series type.
    pub series_type: SeriesType,
    /// Series group code.
    pub series_group: &'a str,
    /// Status.
    pub status: SeriesStatus,
    /// Why the forecast step gave that status.
    pub forecast_reason: Option<ForecastReason>,
    /// Evaluations of the antigen's doses, in date order.
    pub evaluations: Vec<DoseEvaluation>,
    /// Target doses.
    pub target_doses: Vec<TargetDose>,
    /// Number of series doses in the series.
    pub doses_in_series: usize,
    /// Forecast (status Not Complete only).
    pub forecast: Option<SeriesForecast>,
    /// Chapter 8 score, if the series was scored.
    pub score: Option<i32>,
    /// Selected as a best patient series.
    pub best: bool,
}

impl PatientSeries<'_> {
    /// Number of satisfied target doses.
    pub fn valid_doses(&self) -> usize {
        self.target_doses
            .iter()
            .filter(|t| t.status == TargetDoseStatus::Satisfied)
            .count()
    }
    /// The evaluation of a dose (index in `doses`).
    pub fn evaluation_of(&self, dose: usize) -> Option<&DoseEvaluation> {
        self.evaluations.iter().find(|e| e.dose == dose)
    }
}

/// Everything about one antigen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntigenAssessment<'a> {
    /// Antigen index in the supporting data.
    pub antigen: usize,
    /// Antigen name.
    pub name: &'a str,
    /// Relevant patient series.
    pub series: Vec<PatientSeries<'a>>,
    /// Indications that might make a risk series relevant but could not be resolved (none in
    /// this implementation: every observation given is taken as active). Kept for the shape.
    pub notes: Vec<String>,
}

impl<'a> AntigenAssessment<'a> {
    /// The best patient series.
    pub fn best_series(&self) -> impl Iterator<Item = &PatientSeries<'a>> + Clone {
        self.series.iter().filter(|s| s.best)
    }
}

/// A vaccine group forecast (chapter 9): the best series of one series group of every antigen
/// of the vaccine group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupForecast<'a> {
    /// Series type blended (Evaluation Only counts as Standard).
    pub series_type: SeriesType,
    /// Series group code the forecast is made for.
    pub series_group: &'a str,
    /// Status.
    pub status: SeriesStatus,
    /// Why: the reason of the best series whose status the vaccine group took.
    pub reason: Option<ForecastReason>,
    /// Forecast dose number (Not Complete only).
    pub dose_number: Option<u32>,
    /// Earliest date.
    pub earliest: Option<Date>,
    /// Recommended date.
    pub recommended: Option<Date>,
    /// Past-due date.
    pub past_due: Option<Date>,
    /// Latest date.
    pub latest: Option<Date>,
    /// Recommended vaccine types.
    pub recommended_vaccines: Vec<Cvx>,
    /// The best series it is made of: (antigen name, series name).
    pub best_series: Vec<(&'a str, &'a str)>,
}

/// Forecast for one vaccine group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaccineGroupAssessment<'a> {
    /// Vaccine group index in the supporting data.
    pub group: usize,
    /// Vaccine group name.
    pub name: &'a str,
    /// One forecast per series group that has best series; the first is the one to report (see
    /// [`VaccineGroupAssessment::primary`]).
    pub forecasts: Vec<GroupForecast<'a>>,
}

impl<'a> VaccineGroupAssessment<'a> {
    /// The forecast to report: a risk series group before a standard one, then the lowest
    /// series group number; a forecast the patient has aged out of only when there is no other.
    pub fn primary(&self) -> Option<&GroupForecast<'a>> {
        self.forecasts.first()
    }
}

/// A dose's result for one antigen (in one best series) — a row of the Z42 history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoseComponent<'a> {
    /// Antigen name.
    pub antigen: &'a str,
    /// Vaccine group name.
    pub vaccine_group: &'a str,
    /// Best series name.
    pub series: &'a str,
    /// Series type.
    pub series_type: SeriesType,
    /// Status.
    pub status: EvaluationStatus,
    /// Reasons.
    pub reasons: Reasons,
    /// Target dose number evaluated against (None when the series had no target left).
    pub target_dose: Option<usize>,
    /// Whether the dose satisfied that target dose.
    pub satisfied: bool,
    /// Series doses in the series.
    pub doses_in_series: usize,
}

/// One administered dose's results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoseAssessment<'a> {
    /// The caller's id.
    pub id: &'a str,
    /// Index in `doses`.
    pub index: usize,
    /// Per antigen (and best series).
    pub components: Vec<DoseComponent<'a>>,
}

/// The result of [`assess`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment<'a> {
    /// Assessment date.
    pub assessment_date: Date,
    /// Per input dose.
    pub doses: Vec<DoseAssessment<'a>>,
    /// Per vaccine group, in the supporting data's order.
    pub vaccine_groups: Vec<VaccineGroupAssessment<'a>>,
    /// Per antigen (debugging detail).
    pub antigens: Vec<AntigenAssessment<'a>>,
}

impl<'a> Assessment<'a> {
    /// A vaccine group by name (case insensitive).
    pub fn vaccine_group(&self, name: &str) -> Option<&VaccineGroupAssessment<'a>> {
        let k = key(name);
        self.vaccine_groups.iter().find(|g| key(g.name) == k)
    }
    /// An antigen by name (case insensitive).
    pub fn antigen(&self, name: &str) -> Option<&AntigenAssessment<'a>> {
        let k = key(name);
        self.antigens.iter().find(|a| key(a.name) == k)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared internals

/// An antigen administered record (4.2).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec<'a> {
    pub dose: usize,
    pub date: Date,
    pub cvx: Cvx,
    pub mvx: &'a str,
    pub lot_expiration: Option<Date>,
    pub substandard: bool,
}

/// What an assessment works from: `'a` is the lifetime of the data and doses the results borrow,
/// `'p` that of the patient and observations they do not.
pub(crate) struct Env<'a, 'p> {
    pub data: &'a SupportingData,
    pub patient: &'p Patient,
    pub doses: &'a [AdministeredDose],
    pub observations: &'p [ObservationCode],
    pub today: Date,
    /// Birth date + offset, computed once per offset (the same ages recur across series).
    pub ages: AgeDates,
    /// The doses that conflict with later live vaccines: (index, CVX, date administered).
    pub live: Vec<(usize, Cvx, Date)>,
}

/// A small memo of `birth date + offset` (the supporting data uses about 130 distinct offsets):
/// a direct-mapped table; a slot taken by another offset is simply recomputed.
pub(crate) struct AgeDates {
    birth: Date,
    slots: [std::cell::Cell<(Offset, Date)>; AGE_SLOTS],
}

const AGE_SLOTS: usize = 256;
/// No supporting-data offset has this many years; a slot holding it is empty.
const EMPTY_OFFSET: Offset = Offset {
    years: i32::MIN,
    months: 0,
    days: 0,
};

impl AgeDates {
    pub fn new(birth: Date) -> AgeDates {
        AgeDates {
            birth,
            slots: std::array::from_fn(|_| std::cell::Cell::new((EMPTY_OFFSET, birth))),
        }
    }

    /// `birth + o` (CALCDT-1..6).
    #[inline]
    pub fn get(&self, o: &Offset) -> Date {
        let h = (o.years as u32).wrapping_mul(0x9E37_79B1)
            ^ (o.months as u32).wrapping_mul(0x85EB_CA77)
            ^ (o.days as u32).wrapping_mul(0xC2B2_AE3D);
        let slot = &self.slots[(h >> 24) as usize % AGE_SLOTS];
        let (k, d) = slot.get();
        if k == *o && k != EMPTY_OFFSET {
            return d;
        }
        let d = o.add_to(self.birth);
        slot.set((*o, d));
        d
    }
}

impl Env<'_, '_> {
    #[inline]
    pub fn age_date(&self, o: &Option<Offset>) -> Option<Date> {
        o.as_ref().map(|o| self.ages.get(o))
    }
    #[inline]
    pub fn has_observation(&self, code: &str) -> bool {
        !self.observations.is_empty() && self.observation_listed(code)
    }
    fn observation_listed(&self, code: &str) -> bool {
        let c = observation_key(code);
        !c.is_empty()
            && self
                .observations
                .iter()
                .any(|o| observation_key(&o.code) == c)
    }
    /// Latest date of an active observation.
    pub fn observation_date(&self, code: &str) -> Option<Date> {
        if self.observations.is_empty() {
            return None;
        }
        let c = observation_key(code);
        self.observations
            .iter()
            .filter(|o| observation_key(&o.code) == c)
            .filter_map(|o| o.date)
            .max()
    }
}

/// Observation codes compare without surrounding space or leading zeros (`42` = `042`).
pub(crate) fn observation_key(code: &str) -> &str {
    let t = code.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let s = t.trim_start_matches('0');
        if s.is_empty() {
            "0"
        } else {
            s
        }
    } else {
        t
    }
}

/// RELEVANT-1/2: a row applies when the anchor date is within [effective, cessation].
pub(crate) fn relevant(effective: Option<Date>, cessation: Option<Date>, anchor: Date) -> bool {
    effective.is_none_or(|e| anchor >= e) && cessation.is_none_or(|c| anchor <= c)
}

/// The first age row relevant on the anchor date.
pub(crate) fn age_row(ages: &[AgeRule], anchor: Date) -> Option<&AgeRule> {
    ages.iter()
        .find(|a| relevant(a.effective, a.cessation, anchor))
}

/// One relevant patient series while it is being evaluated and forecast.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub series: usize,
    pub targets: Vec<TargetDose>,
    /// Evaluations of the antigen records, in record order (record `i` is `evals[i]` once
    /// evaluated).
    pub evals: Vec<DoseEvaluation>,
    /// Index of the current (next) target dose.
    pub next: usize,
    pub status: SeriesStatus,
    pub reason: Option<ForecastReason>,
    pub forecast: Option<SeriesForecast>,
    pub score: Option<i32>,
    pub best: bool,
}

impl Run {
    fn new(series_index: usize, series: &Series, recs: usize) -> Run {
        Run {
            series: series_index,
            targets: (0..series.doses.len())
                .map(|i| TargetDose {
                    series_dose: i,
                    status: TargetDoseStatus::NotSatisfied,
                    satisfied_by: None,
                })
                .collect(),
            evals: Vec::with_capacity(recs),
            next: 0,
            status: SeriesStatus::NotComplete,
            reason: None,
            forecast: None,
            score: None,
            best: false,
        }
    }
    pub fn satisfied(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.status == TargetDoseStatus::Satisfied)
            .count()
    }
    pub fn status_of(&self, rec: usize) -> Option<EvaluationStatus> {
        self.evals.get(rec).map(|e| e.status)
    }
}

/// 4.2: the antigen records of every antigen, each sorted by date (then input order).
fn organize<'a>(env: &Env<'a, '_>) -> Vec<Vec<Rec<'a>>> {
    let mut out: Vec<Vec<Rec<'a>>> = vec![Vec::new(); env.data.antigens.len()];
    for (i, d) in env.doses.iter().enumerate() {
        for &(ai, begin, end) in env.data.cvx_associations(d.cvx) {
            let b = env.age_date(&begin).unwrap_or(MIN_DATE);
            let e = env.age_date(&end).unwrap_or(MAX_DATE);
            if d.date < b || d.date >= e {
                continue;
            }
            if let Some(v) = out.get_mut(ai) {
                if v.iter().any(|r| r.dose == i) {
                    continue;
                }
                v.push(Rec {
                    dose: i,
                    date: d.date,
                    cvx: d.cvx,
                    mvx: d.mvx.as_deref().unwrap_or("").trim(),
                    lot_expiration: d.lot_expiration.and_then(LotExpiration::date),
                    substandard: d.substandard,
                });
            }
        }
    }
    for v in &mut out {
        v.sort_by(|a, b| a.date.cmp(&b.date).then(a.dose.cmp(&b.dose)));
    }
    out
}

/// Table 5-4 / 5-5: is the series relevant for the patient?
fn is_relevant(env: &Env, s: &Series) -> bool {
    if !s.required_gender.is_empty() && !s.required_gender.contains(&env.patient.gender) {
        return false;
    }
    match s.series_type {
        SeriesType::Standard | SeriesType::EvaluationOnly => true,
        SeriesType::Risk => {
            !env.observations.is_empty()
                && s.indications.iter().any(|ind| {
                    env.has_observation(&ind.code)
                        && env.age_date(&ind.begin_age).unwrap_or(MIN_DATE) <= env.today
                        && env.today < env.age_date(&ind.end_age).unwrap_or(MAX_DATE)
                })
        }
    }
}

fn assess_antigen<'a>(env: &Env<'a, '_>, ai: usize, recs: &[Rec]) -> AntigenAssessment<'a> {
    let antigen = &env.data.antigens[ai];
    let facts = forecast::AntigenFacts::new(env, antigen);
    let order = env.data.series_order(ai);
    let mut runs: Vec<Run> = Vec::with_capacity(order.len());
    for &si in order {
        let Some(s) = antigen.series.get(si).filter(|s| is_relevant(env, s)) else {
            continue;
        };
        let mut run = Run::new(si, s, recs.len());
        evaluate::evaluate_series(env, antigen, s, recs, &mut run, &runs);
        forecast::forecast_series(env, antigen, &facts, s, recs, &mut run, &runs);
        runs.push(run);
    }
    runs.sort_by_key(|r| r.series);
    select::select_best(env, ai, antigen, &mut runs);
    let series = runs
        .into_iter()
        .map(|r| {
            let s = &antigen.series[r.series];
            let mut target_doses = r.targets;
            for t in &mut target_doses {
                t.satisfied_by = t.satisfied_by.and_then(|x| recs.get(x)).map(|x| x.dose);
            }
            PatientSeries {
                series_index: r.series,
                name: s.name.as_str(),
                series_type: s.series_type,
                series_group: s.select.group.as_str(),
                status: r.status,
                forecast_reason: r.reason,
                evaluations: r.evals,
                target_doses,
                doses_in_series: s.doses.len(),
                forecast: r.forecast,
                score: r.score,
                best: r.best,
            }
        })
        .collect();
    AntigenAssessment {
        antigen: ai,
        name: antigen.name.as_str(),
        series,
        notes: Vec::new(),
    }
}

/// Evaluates a patient's history and forecasts every vaccine group on `assessment_date`.
///
/// Every dose is split into antigens (the CVX-to-antigen map, association ages applied), each
/// antigen's relevant series are evaluated and forecast, the best series are chosen, and the
/// vaccine group forecasts are built from them. Doses with a CVX the data does not know are
/// ignored (they appear in [`Assessment::doses`] with no components).
///
/// The result borrows the names it reports (series, antigens, vaccine groups, series groups)
/// from `data` and the dose ids from `doses`, so it copies no strings.
pub fn assess<'a>(
    data: &'a SupportingData,
    patient: &Patient,
    doses: &'a [AdministeredDose],
    observations: &[ObservationCode],
    assessment_date: Date,
) -> Assessment<'a> {
    let env = Env {
        data,
        patient,
        doses,
        observations,
        today: assessment_date,
        ages: AgeDates::new(patient.birth_date),
        live: doses
            .iter()
            .enumerate()
            .filter(|(_, d)| data.is_conflicting_previous(d.cvx))
            .map(|(i, d)| (i, d.cvx, d.date))
            .collect(),
    };
    let recs = organize(&env);
    let mut antigens = Vec::with_capacity(data.antigens.len());
    for (ai, r) in recs.iter().enumerate() {
        antigens.push(assess_antigen(&env, ai, r));
    }
    let vaccine_groups = group::vaccine_groups(&env, &antigens);
    let mut dose_out: Vec<DoseAssessment> = doses
        .iter()
        .enumerate()
        .map(|(i, d)| DoseAssessment {
            id: d.id.as_str(),
            index: i,
            components: Vec::new(),
        })
        .collect();
    for aa in &antigens {
        let group_name = data
            .vaccine_group_of_antigen(aa.antigen)
            .and_then(|g| data.vaccine_groups.get(g))
            .map(|g| g.name.as_str())
            .unwrap_or_default();
        for s in aa.best_series() {
            for e in &s.evaluations {
                let satisfied = e.status == EvaluationStatus::Valid;
                if let Some(d) = dose_out.get_mut(e.dose) {
                    d.components.push(DoseComponent {
                        antigen: aa.name,
                        vaccine_group: group_name,
                        series: s.name,
                        series_type: s.series_type,
                        status: e.status,
                        reasons: e.reasons,
                        target_dose: e.target_dose,
                        satisfied,
                        doses_in_series: s.doses_in_series,
                    });
                }
            }
        }
    }
    Assessment {
        assessment_date,
        doses: dose_out,
        vaccine_groups,
        antigens,
    }
}

/// The latest of the dates given.
#[inline]
pub(crate) fn latest<const N: usize>(dates: [Option<Date>; N]) -> Option<Date> {
    let mut out: Option<Date> = None;
    for d in dates.into_iter().flatten() {
        if out.is_none_or(|o| d > o) {
            out = Some(d);
        }
    }
    out
}

pub(crate) fn minus_day(d: Option<Date>) -> Option<Date> {
    d.map(|d| add_days(d, -1))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The age memo returns birth + offset whatever the order of lookups and slot collisions.
    #[test]
    fn age_memo_matches_date_arithmetic() {
        let birth = date(2020, 1, 31);
        let ages = AgeDates::new(birth);
        let mut offsets = Vec::new();
        for years in [0, 1, 2, 19, 65] {
            for months in [0, 1, 6, 11] {
                for days in [-4, 0, 7, 28] {
                    offsets.push(Offset {
                        years,
                        months,
                        days,
                    });
                }
            }
        }
        for _ in 0..3 {
            for o in &offsets {
                assert_eq!(ages.get(o), o.add_to(birth), "{o}");
            }
        }
        assert_eq!(ages.get(&EMPTY_OFFSET), EMPTY_OFFSET.add_to(birth));
    }
}
