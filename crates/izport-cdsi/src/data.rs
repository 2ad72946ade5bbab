//! The supporting data model (antigen files + schedule file), and the indexes built at load so
//! that an assessment never scans the whole data set.

use crate::date::Offset;
use jiff::civil::Date;
use std::collections::HashMap;
use std::fmt;

/// A CVX code, leading zeros dropped (`"03"` and `"3"` are both 3).
pub type Cvx = u16;

/// Parses a CVX code leniently (space, leading zeros). `None` if it is not a number.
pub fn parse_cvx(text: &str) -> Option<Cvx> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = t.trim_start_matches('0');
    if t.is_empty() {
        return Some(0);
    }
    t.parse().ok()
}

/// Why supporting data could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataError {
    /// The XML of a file is not well formed.
    Xml {
        /// File name given by the caller.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A file is neither antigen nor schedule supporting data.
    UnknownRoot {
        /// File name given by the caller.
        file: String,
        /// The root element found.
        root: String,
    },
    /// A value could not be understood.
    Value {
        /// File name (or `compact`).
        file: String,
        /// Where in the file.
        context: String,
        /// The offending text.
        value: String,
    },
    /// No schedule supporting data was given.
    MissingSchedule,
    /// The compact text is damaged or of another format version.
    Compact {
        /// 1-based line number.
        line: usize,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Xml { file, message } => write!(f, "{file}: XML error: {message}"),
            DataError::UnknownRoot { file, root } => {
                write!(f, "{file}: unknown root element <{root}>")
            }
            DataError::Value {
                file,
                context,
                value,
            } => write!(f, "{file}: {context}: cannot read {value:?}"),
            DataError::MissingSchedule => write!(f, "no ScheduleSupportingData was given"),
            DataError::Compact { line, message } => {
                write!(f, "compact supporting data, line {line}: {message}")
            }
        }
    }
}

impl std::error::Error for DataError {}

/// Patient gender as CDSi uses it (a series filter only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Unknown (also assumed when empty).
    Unknown,
}

impl Gender {
    /// Lenient parse: `F`, `Female`, `M`, `Male`, `U`, `Unknown` (any case).
    pub fn parse(text: &str) -> Option<Gender> {
        match text.trim().to_ascii_lowercase().as_str() {
            "f" | "female" => Some(Gender::Female),
            "m" | "male" => Some(Gender::Male),
            "u" | "unknown" | "" => Some(Gender::Unknown),
            _ => None,
        }
    }
    pub(crate) fn code(self) -> &'static str {
        match self {
            Gender::Female => "F",
            Gender::Male => "M",
            Gender::Unknown => "U",
        }
    }
}

/// The type of an antigen series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeriesType {
    /// Recommended for everyone by age.
    Standard,
    /// Recommended for patients with an indication.
    Risk,
    /// Never forecast; counts as proof of completion when complete.
    EvaluationOnly,
}

impl SeriesType {
    pub(crate) fn parse(text: &str) -> Option<SeriesType> {
        match norm(text).as_str() {
            "standard" => Some(SeriesType::Standard),
            "risk" => Some(SeriesType::Risk),
            "evaluation only" | "evaluationonly" => Some(SeriesType::EvaluationOnly),
            _ => None,
        }
    }
    /// The supporting data's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesType::Standard => "Standard",
            SeriesType::Risk => "Risk",
            SeriesType::EvaluationOnly => "Evaluation Only",
        }
    }
}

/// When a conditional skip applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipContext {
    /// While evaluating a dose.
    Evaluation,
    /// While forecasting (and validating the forecast).
    Forecast,
    /// Both.
    Both,
}

impl SkipContext {
    pub(crate) fn parse(text: &str) -> Option<SkipContext> {
        match norm(text).as_str() {
            "evaluation" => Some(SkipContext::Evaluation),
            "forecast" => Some(SkipContext::Forecast),
            "both" => Some(SkipContext::Both),
            _ => None,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SkipContext::Evaluation => "Evaluation",
            SkipContext::Forecast => "Forecast",
            SkipContext::Both => "Both",
        }
    }
    /// Whether instances of this context are used in evaluation.
    pub fn in_evaluation(self) -> bool {
        matches!(self, SkipContext::Evaluation | SkipContext::Both)
    }
    /// Whether instances of this context are used in forecasting.
    pub fn in_forecast(self) -> bool {
        matches!(self, SkipContext::Forecast | SkipContext::Both)
    }
}

/// AND / OR of conditions or sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Logic {
    /// All must be met.
    And,
    /// One is enough.
    Or,
}

impl Logic {
    pub(crate) fn parse(text: &str) -> Result<Option<Logic>, ()> {
        match norm(text).as_str() {
            "" | "n/a" | "na" => Ok(None),
            "and" => Ok(Some(Logic::And)),
            "or" => Ok(Some(Logic::Or)),
            _ => Err(()),
        }
    }
}

/// The type of a conditional-skip condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    /// Age at the reference date.
    Age,
    /// A series of a series group is complete.
    CompletedSeries,
    /// Time since the previous dose.
    Interval,
    /// Count of doses within an age range.
    VaccineCountByAge,
    /// Count of doses within a date range.
    VaccineCountByDate,
    /// Count of doses within an age and a date range.
    VaccineCountByDateAndAge,
}

impl ConditionKind {
    pub(crate) fn parse(text: &str) -> Option<ConditionKind> {
        match norm(text).as_str() {
            "age" => Some(ConditionKind::Age),
            "completed series" => Some(ConditionKind::CompletedSeries),
            "interval" => Some(ConditionKind::Interval),
            "vaccine count by age" => Some(ConditionKind::VaccineCountByAge),
            "vaccine count by date" => Some(ConditionKind::VaccineCountByDate),
            "vaccine count by date and age" | "vaccine count by age and date" => {
                Some(ConditionKind::VaccineCountByDateAndAge)
            }
            _ => None,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ConditionKind::Age => "Age",
            ConditionKind::CompletedSeries => "Completed Series",
            ConditionKind::Interval => "Interval",
            ConditionKind::VaccineCountByAge => "Vaccine Count by Age",
            ConditionKind::VaccineCountByDate => "Vaccine Count by Date",
            ConditionKind::VaccineCountByDateAndAge => "Vaccine Count by Date and Age",
        }
    }
}

/// Which doses a vaccine-count condition counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DoseType {
    /// Only doses evaluated Valid in the series.
    Valid,
    /// Any dose.
    Total,
}

impl DoseType {
    pub(crate) fn parse(text: &str) -> Result<Option<DoseType>, ()> {
        match norm(text).as_str() {
            "" => Ok(None),
            "valid" => Ok(Some(DoseType::Valid)),
            "total" => Ok(Some(DoseType::Total)),
            _ => Err(()),
        }
    }
}

/// How a dose count compares with the condition's count (all strict).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountLogic {
    /// count > doseCount
    GreaterThan,
    /// count = doseCount
    EqualTo,
    /// count < doseCount
    LessThan,
}

impl CountLogic {
    pub(crate) fn parse(text: &str) -> Result<Option<CountLogic>, ()> {
        match norm(text).as_str() {
            "" => Ok(None),
            "greater than" | "greater" | ">" => Ok(Some(CountLogic::GreaterThan)),
            "equal to" | "equal" | "equals" | "=" => Ok(Some(CountLogic::EqualTo)),
            "less than" | "less" | "<" => Ok(Some(CountLogic::LessThan)),
            _ => Err(()),
        }
    }
}

/// Lower-case with runs of white space collapsed to one space.
pub(crate) fn norm(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for w in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&w.to_lowercase());
    }
    out
}

/// An observation code with its title (immunity guideline, exclusion, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeTitle {
    /// CDSi observation code (`019`).
    pub code: String,
    /// Title.
    pub title: String,
}

/// Evidence of immunity for an antigen (7.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Immunity {
    /// Observations that prove immunity.
    pub clinical_history: Vec<CodeTitle>,
    /// Birth-date immunity.
    pub birth_date: Vec<BirthDateImmunity>,
}

/// Immunity for those born before a date (and in a country, when set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirthDateImmunity {
    /// Born before this date.
    pub immunity_birth_date: Date,
    /// Born in this country, if set (`U.S.`).
    pub birth_country: Option<String>,
    /// Observations that exclude the immunity.
    pub exclusions: Vec<CodeTitle>,
}

/// An antigen-level contraindication (every series of the antigen).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AntigenContraindication {
    /// Observation code.
    pub code: String,
    /// Observation title.
    pub title: String,
    /// Contraindication text.
    pub text: String,
    /// Guidance.
    pub guidance: String,
    /// Applies from this age.
    pub begin_age: Option<Offset>,
    /// Applies before this age.
    pub end_age: Option<Offset>,
}

/// A vaccine-level contraindication.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaccineContraindication {
    /// Observation code.
    pub code: String,
    /// Observation title.
    pub title: String,
    /// Contraindication text.
    pub text: String,
    /// Guidance.
    pub guidance: String,
    /// The contraindicated vaccines.
    pub vaccines: Vec<ContraindicatedVaccine>,
}

/// One vaccine of a vaccine-level contraindication.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContraindicatedVaccine {
    /// Vaccine type text.
    pub vaccine_type: String,
    /// CVX.
    pub cvx: Cvx,
    /// Applies from this age.
    pub begin_age: Option<Offset>,
    /// Applies before this age.
    pub end_age: Option<Offset>,
}

/// The chapter 8 fields of a series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectSeries {
    /// Default series of its group.
    pub default_series: bool,
    /// Product path series.
    pub product_path: bool,
    /// Series group name.
    pub group_name: String,
    /// Series group code.
    pub group: String,
    /// Series priority (`A` highest).
    pub priority: String,
    /// Series preference (1 first).
    pub preference: Option<u32>,
    /// Minimum age to start (used by no v4.6 rule).
    pub min_age_to_start: Option<Offset>,
    /// Maximum age to start.
    pub max_age_to_start: Option<Offset>,
}

/// An indication of a risk series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indication {
    /// Observation code.
    pub code: String,
    /// Observation text.
    pub text: String,
    /// Description.
    pub description: String,
    /// From this age.
    pub begin_age: Option<Offset>,
    /// Before this age.
    pub end_age: Option<Offset>,
    /// Guidance.
    pub guidance: String,
}

/// An antigen series (a path to immunity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    /// Series name.
    pub name: String,
    /// Target disease (= the antigen).
    pub target_disease: String,
    /// Vaccine group.
    pub vaccine_group: String,
    /// Administrative guidance.
    pub admin_guidance: String,
    /// Standard, Risk or Evaluation Only.
    pub series_type: SeriesType,
    /// Series group codes equivalent to this series.
    pub equivalent_series_groups: Vec<String>,
    /// Genders the series is for (empty = any).
    pub required_gender: Vec<Gender>,
    /// Selection fields.
    pub select: SelectSeries,
    /// Indications (risk series).
    pub indications: Vec<Indication>,
    /// Series doses in order.
    pub doses: Vec<SeriesDose>,
}

/// Age requirements of a series dose (one row; rows can differ by effective date).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgeRule {
    /// Absolute minimum age.
    pub abs_min: Option<Offset>,
    /// Minimum age.
    pub min: Option<Offset>,
    /// Earliest recommended age.
    pub earliest_rec: Option<Offset>,
    /// Latest recommended age.
    pub latest_rec: Option<Offset>,
    /// Maximum age.
    pub max: Option<Offset>,
    /// Effective date.
    pub effective: Option<Date>,
    /// Cessation date.
    pub cessation: Option<Date>,
}

/// An observation code with its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeText {
    /// Code.
    pub code: String,
    /// Text.
    pub text: String,
}

/// A preferable interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    /// From the immediate previous dose.
    pub from_previous: bool,
    /// From the dose that satisfied this target dose number.
    pub from_target_dose: Option<u32>,
    /// From the most recent dose of these CVX.
    pub from_most_recent: Vec<Cvx>,
    /// From the date of this observation.
    pub from_relevant_obs: Option<CodeText>,
    /// Absolute minimum interval.
    pub abs_min: Option<Offset>,
    /// Minimum interval.
    pub min: Option<Offset>,
    /// Earliest recommended interval.
    pub earliest_rec: Option<Offset>,
    /// Latest recommended interval.
    pub latest_rec: Option<Offset>,
    /// Interval priority flag (4.64 writes `override`, read as Y).
    pub priority: bool,
    /// Effective date.
    pub effective: Option<Date>,
    /// Cessation date.
    pub cessation: Option<Date>,
}

/// An allowable interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowableInterval {
    /// From the immediate previous dose.
    pub from_previous: bool,
    /// From the dose that satisfied this target dose number.
    pub from_target_dose: Option<u32>,
    /// Absolute minimum interval.
    pub abs_min: Option<Offset>,
    /// Effective date.
    pub effective: Option<Date>,
    /// Cessation date.
    pub cessation: Option<Date>,
}

/// A preferable vaccine of a series dose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreferableVaccine {
    /// Vaccine type text.
    pub vaccine_type: String,
    /// CVX.
    pub cvx: Cvx,
    /// From this age.
    pub begin_age: Option<Offset>,
    /// Before this age.
    pub end_age: Option<Offset>,
    /// Trade name, if the dose is product specific.
    pub trade_name: String,
    /// Manufacturer (MVX), if product specific.
    pub mvx: String,
    /// Volume (ml) as written.
    pub volume: String,
    /// Forecast this vaccine type.
    pub forecast: bool,
}

/// An allowable vaccine of a series dose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowableVaccine {
    /// Vaccine type text.
    pub vaccine_type: String,
    /// CVX.
    pub cvx: Cvx,
    /// From this age.
    pub begin_age: Option<Offset>,
    /// Before this age.
    pub end_age: Option<Offset>,
}

/// A vaccine type reference (inadvertent vaccines).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaccineRef {
    /// Vaccine type text.
    pub vaccine_type: String,
    /// CVX.
    pub cvx: Cvx,
}

/// A conditional skip instance of a series dose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionalSkip {
    /// Context.
    pub context: SkipContext,
    /// How sets combine (`None` = n/a).
    pub set_logic: Option<Logic>,
    /// Sets.
    pub sets: Vec<SkipSet>,
}

/// A set of skip conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkipSet {
    /// Set id.
    pub id: String,
    /// Description.
    pub description: String,
    /// Effective date.
    pub effective: Option<Date>,
    /// Cessation date.
    pub cessation: Option<Date>,
    /// How conditions combine (`None` = n/a).
    pub condition_logic: Option<Logic>,
    /// Conditions.
    pub conditions: Vec<SkipCondition>,
}

/// One skip condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkipCondition {
    /// Condition id.
    pub id: String,
    /// Type.
    pub kind: ConditionKind,
    /// Count doses on or after.
    pub start_date: Option<Date>,
    /// Count doses before.
    pub end_date: Option<Date>,
    /// Begin age.
    pub begin_age: Option<Offset>,
    /// End age.
    pub end_age: Option<Offset>,
    /// Interval.
    pub interval: Option<Offset>,
    /// Dose count.
    pub dose_count: Option<u32>,
    /// Dose type.
    pub dose_type: Option<DoseType>,
    /// Count comparison.
    pub count_logic: Option<CountLogic>,
    /// Counted vaccine types (empty = all doses of the antigen).
    pub vaccine_types: Vec<Cvx>,
    /// Series groups (Completed Series).
    pub series_groups: Vec<String>,
}

/// A seasonal recommendation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Season {
    /// Season start.
    pub start: Option<Date>,
    /// Season end.
    pub end: Option<Date>,
}

/// One dose of an antigen series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesDose {
    /// `Dose 1` ...
    pub dose_number: String,
    /// Age rows.
    pub ages: Vec<AgeRule>,
    /// Preferable intervals.
    pub intervals: Vec<Interval>,
    /// Allowable intervals.
    pub allowable_intervals: Vec<AllowableInterval>,
    /// Preferable vaccines.
    pub preferable_vaccines: Vec<PreferableVaccine>,
    /// Allowable vaccines.
    pub allowable_vaccines: Vec<AllowableVaccine>,
    /// Inadvertent vaccines.
    pub inadvertent_vaccines: Vec<VaccineRef>,
    /// Conditional skips (a dose can carry two instances of different contexts).
    pub conditional_skips: Vec<ConditionalSkip>,
    /// Recurring dose.
    pub recurring: bool,
    /// Seasonal recommendation.
    pub season: Option<Season>,
}

/// One antigen's supporting data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Antigen {
    /// Antigen name (the series' target disease: `HepB`, `Measles`, ...).
    pub name: String,
    /// Immunity.
    pub immunity: Immunity,
    /// Antigen-level contraindications.
    pub antigen_contraindications: Vec<AntigenContraindication>,
    /// Vaccine-level contraindications.
    pub vaccine_contraindications: Vec<VaccineContraindication>,
    /// Series.
    pub series: Vec<Series>,
}

/// A live virus (vaccine) conflict pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveVirusConflict {
    /// Previous (conflicting) vaccine type.
    pub previous_type: String,
    /// Previous CVX.
    pub previous_cvx: Cvx,
    /// Current (impacted) vaccine type.
    pub current_type: String,
    /// Current CVX.
    pub current_cvx: Cvx,
    /// Conflict begin interval.
    pub begin: Option<Offset>,
    /// Minimum conflict end interval.
    pub min_end: Option<Offset>,
    /// Conflict end interval.
    pub end: Option<Offset>,
}

/// A vaccine group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaccineGroup {
    /// Name (`DTaP/Tdap/Td`).
    pub name: String,
    /// Administer full vaccine group (None when not given).
    pub administer_full: Option<bool>,
    /// Antigens of the group (vaccineGroupToAntigenMap).
    pub antigens: Vec<String>,
}

/// One CVX's antigens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CvxMapping {
    /// CVX.
    pub cvx: Cvx,
    /// Short description.
    pub description: String,
    /// Antigen associations.
    pub associations: Vec<Association>,
}

/// A CVX-to-antigen association, possibly limited to an age window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Association {
    /// Antigen name.
    pub antigen: String,
    /// From this age.
    pub begin_age: Option<Offset>,
    /// Before this age.
    pub end_age: Option<Offset>,
}

/// A CDSi clinical observation and the codes other systems use for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// CDSi code (`042`).
    pub code: String,
    /// Title.
    pub title: String,
    /// Group.
    pub group: String,
    /// Indication text.
    pub indication_text: String,
    /// Contraindication text.
    pub contraindication_text: String,
    /// Clarifying text.
    pub clarifying_text: String,
    /// Coded values in other code systems.
    pub coded_values: Vec<CodedValue>,
}

/// A code of another system (SNOMED, CVX, CDCPHINVS) for an observation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodedValue {
    /// The code.
    pub code: String,
    /// The code system as written (`SNOMED`, `CVX`, `CDCPHINVS`).
    pub system: String,
    /// Text.
    pub text: String,
}

/// An antigen a CVX maps to, with the association's begin and end ages.
pub(crate) type AntigenAssociation = (usize, Option<Offset>, Option<Offset>);

/// Lookup tables built at load.
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    pub antigen_by_name: HashMap<String, usize>,
    /// CVX → (antigen index, association begin age, end age), indexed by CVX.
    pub cvx_antigens: Vec<Vec<AntigenAssociation>>,
    /// current (impacted) CVX → conflict indexes, indexed by CVX.
    pub conflicts_by_current: Vec<Vec<usize>>,
    /// CVX → whether it is the previous (conflicting) vaccine of some conflict.
    pub conflicting_previous: Vec<bool>,
    /// antigen index → vaccine group index.
    pub group_of_antigen: Vec<Option<usize>>,
    /// vaccine group → antigen indexes.
    pub group_antigens: Vec<Vec<usize>>,
    pub group_by_name: HashMap<String, usize>,
    pub observation_by_code: HashMap<String, usize>,
    /// (normalised code system, code) → observation index.
    pub observation_by_coded_value: HashMap<(String, String), Vec<usize>>,
    /// antigen index → CVX codes of the vaccine group the antigen belongs to.
    pub group_cvx: Vec<Vec<Cvx>>,
    /// antigen index → series index → index of the first series of the antigen with the same
    /// series group (a cheap series group identity).
    pub series_group_id: Vec<Vec<usize>>,
    /// antigen index → its series in evaluation order: a series whose conditional skips ask
    /// whether another series group is complete comes after the series of that group.
    pub series_order: Vec<Vec<usize>>,
}

/// The whole supporting data set.
#[derive(Clone, Debug)]
pub struct SupportingData {
    /// Version label (`4.64`), as given by whoever loaded it.
    pub version: String,
    /// Antigens, sorted by name.
    pub antigens: Vec<Antigen>,
    /// Live virus conflicts.
    pub live_virus_conflicts: Vec<LiveVirusConflict>,
    /// Vaccine groups.
    pub vaccine_groups: Vec<VaccineGroup>,
    /// CVX to antigen map.
    pub cvx_map: Vec<CvxMapping>,
    /// Observations.
    pub observations: Vec<Observation>,
    pub(crate) index: Index,
}

impl PartialEq for SupportingData {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.antigens == other.antigens
            && self.live_virus_conflicts == other.live_virus_conflicts
            && self.vaccine_groups == other.vaccine_groups
            && self.cvx_map == other.cvx_map
            && self.observations == other.observations
    }
}

pub(crate) fn key(name: &str) -> String {
    norm(name)
}

/// Code systems compared without case or punctuation (`SNOMED`, `SNOMED-CT`, `sct`).
fn system_key(system: &str) -> String {
    let s: String = system
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    match s.as_str() {
        "SCT" | "SNOMEDCT" | "SNOMED" => "SNOMED".to_string(),
        "CVX" | "HL70292" => "CVX".to_string(),
        "CDCPHINVS" | "PHINVS" => "CDCPHINVS".to_string(),
        _ => s,
    }
}

/// The series of an antigen in evaluation order (see [`Index::series_order`]); a cycle of
/// references keeps the data's order.
fn series_order(antigen: &Antigen) -> Vec<usize> {
    fn refs(s: &Series) -> Vec<&str> {
        s.doses
            .iter()
            .flat_map(|d| d.conditional_skips.iter())
            .flat_map(|k| k.sets.iter())
            .flat_map(|st| st.conditions.iter())
            .filter(|c| c.kind == ConditionKind::CompletedSeries)
            .flat_map(|c| c.series_groups.iter().map(String::as_str))
            .collect()
    }
    let mut pending: Vec<usize> = (0..antigen.series.len()).collect();
    let mut order = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = pending.len();
        let mut i = 0;
        while i < pending.len() {
            let me = pending[i];
            let waits = antigen.series.get(me).is_some_and(|s| {
                refs(s).iter().any(|g| {
                    pending.iter().any(|&p| {
                        p != me && antigen.series.get(p).is_some_and(|o| o.select.group == *g)
                    })
                })
            });
            if waits {
                i += 1;
            } else {
                order.push(pending.remove(i));
            }
        }
        if pending.len() == before {
            order.append(&mut pending);
        }
    }
    order
}

/// The entry of a table indexed by CVX, grown as needed.
fn slot<T>(table: &mut Vec<Vec<T>>, cvx: Cvx) -> &mut Vec<T> {
    let i = usize::from(cvx);
    if table.len() <= i {
        table.resize_with(i + 1, Vec::new);
    }
    &mut table[i]
}

impl SupportingData {
    /// Assembles a data set and builds its indexes. Antigens are sorted by name.
    pub fn new(
        version: String,
        mut antigens: Vec<Antigen>,
        live_virus_conflicts: Vec<LiveVirusConflict>,
        vaccine_groups: Vec<VaccineGroup>,
        cvx_map: Vec<CvxMapping>,
        observations: Vec<Observation>,
    ) -> SupportingData {
        antigens.sort_by(|a, b| a.name.cmp(&b.name));
        let mut d = SupportingData {
            version,
            antigens,
            live_virus_conflicts,
            vaccine_groups,
            cvx_map,
            observations,
            index: Index::default(),
        };
        d.build_index();
        d
    }

    fn build_index(&mut self) {
        let mut ix = Index::default();
        for (i, a) in self.antigens.iter().enumerate() {
            ix.antigen_by_name.insert(key(&a.name), i);
        }
        for m in &self.cvx_map {
            let v = slot(&mut ix.cvx_antigens, m.cvx);
            for a in &m.associations {
                if let Some(&ai) = ix.antigen_by_name.get(&key(&a.antigen)) {
                    v.push((ai, a.begin_age, a.end_age));
                }
            }
        }
        for (i, c) in self.live_virus_conflicts.iter().enumerate() {
            slot(&mut ix.conflicts_by_current, c.current_cvx).push(i);
            let p = usize::from(c.previous_cvx);
            if ix.conflicting_previous.len() <= p {
                ix.conflicting_previous.resize(p + 1, false);
            }
            ix.conflicting_previous[p] = true;
        }
        ix.group_of_antigen = vec![None; self.antigens.len()];
        for (gi, g) in self.vaccine_groups.iter().enumerate() {
            ix.group_by_name.insert(key(&g.name), gi);
            let mut ants = Vec::new();
            for a in &g.antigens {
                if let Some(&ai) = ix.antigen_by_name.get(&key(a)) {
                    ants.push(ai);
                    ix.group_of_antigen[ai] = Some(gi);
                }
            }
            ix.group_antigens.push(ants);
        }
        // Antigens whose group is named only in their series.
        for (ai, a) in self.antigens.iter().enumerate() {
            if ix.group_of_antigen[ai].is_none() {
                if let Some(s) = a.series.first() {
                    if let Some(&gi) = ix.group_by_name.get(&key(&s.vaccine_group)) {
                        ix.group_of_antigen[ai] = Some(gi);
                        ix.group_antigens[gi].push(ai);
                    }
                }
            }
        }
        for (i, o) in self.observations.iter().enumerate() {
            ix.observation_by_code.insert(o.code.trim().to_string(), i);
            for cv in &o.coded_values {
                ix.observation_by_coded_value
                    .entry((system_key(&cv.system), cv.code.trim().to_string()))
                    .or_default()
                    .push(i);
            }
        }
        // CVX codes of each antigen's vaccine group (for MULTIANTVG-1).
        let mut group_cvx: Vec<Vec<Cvx>> = vec![Vec::new(); self.vaccine_groups.len()];
        for m in &self.cvx_map {
            for a in &m.associations {
                if let Some(&ai) = ix.antigen_by_name.get(&key(&a.antigen)) {
                    if let Some(gi) = ix.group_of_antigen[ai] {
                        if !group_cvx[gi].contains(&m.cvx) {
                            group_cvx[gi].push(m.cvx);
                        }
                    }
                }
            }
        }
        ix.group_cvx = group_cvx;
        ix.series_order = self.antigens.iter().map(series_order).collect();
        ix.series_group_id = self
            .antigens
            .iter()
            .map(|a| {
                a.series
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        a.series
                            .iter()
                            .position(|o| o.select.group == s.select.group)
                            .unwrap_or(i)
                    })
                    .collect()
            })
            .collect();
        self.index = ix;
    }

    /// The index of an antigen by name (case and space insensitive).
    pub fn antigen_index(&self, name: &str) -> Option<usize> {
        self.index.antigen_by_name.get(&key(name)).copied()
    }

    /// The index of a vaccine group by name (case and space insensitive).
    pub fn vaccine_group_index(&self, name: &str) -> Option<usize> {
        self.index.group_by_name.get(&key(name)).copied()
    }

    /// The vaccine group an antigen belongs to.
    pub fn vaccine_group_of_antigen(&self, antigen: usize) -> Option<usize> {
        self.index.group_of_antigen.get(antigen).copied().flatten()
    }

    /// The antigens of a vaccine group.
    pub fn antigens_of_group(&self, group: usize) -> &[usize] {
        self.index
            .group_antigens
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The antigens a CVX maps to (ignoring association ages).
    pub fn antigens_of_cvx(&self, cvx: Cvx) -> impl Iterator<Item = usize> + '_ {
        self.index
            .cvx_antigens
            .get(usize::from(cvx))
            .into_iter()
            .flatten()
            .map(|x| x.0)
    }

    /// The CDSi observation codes that a code of another system (as carried in an HL7 OBX, e.g.
    /// `("SNOMED", "370388006")` or `("CDCPHINVS", ...)`) stands for.
    pub fn observation_codes_for(&self, system: &str, code: &str) -> Vec<&str> {
        self.index
            .observation_by_coded_value
            .get(&(system_key(system), code.trim().to_string()))
            .into_iter()
            .flatten()
            .filter_map(|&i| self.observations.get(i).map(|o| o.code.as_str()))
            .collect()
    }

    /// An observation by its CDSi code.
    pub fn observation(&self, code: &str) -> Option<&Observation> {
        self.index
            .observation_by_code
            .get(code.trim())
            .and_then(|&i| self.observations.get(i))
    }

    pub(crate) fn conflicts_impacting(&self, cvx: Cvx) -> &[usize] {
        self.index
            .conflicts_by_current
            .get(usize::from(cvx))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether a vaccine type conflicts with some later vaccine (a live virus vaccine).
    pub(crate) fn is_conflicting_previous(&self, cvx: Cvx) -> bool {
        self.index
            .conflicting_previous
            .get(usize::from(cvx))
            .copied()
            .unwrap_or(false)
    }

    /// The conflict of a previous vaccine type on a current one, if any.
    pub(crate) fn conflict(&self, current: Cvx, previous: Cvx) -> Option<&LiveVirusConflict> {
        self.conflicts_impacting(current)
            .iter()
            .filter_map(|&i| self.live_virus_conflicts.get(i))
            .find(|c| c.previous_cvx == previous)
    }

    pub(crate) fn cvx_associations(&self, cvx: Cvx) -> &[AntigenAssociation] {
        self.index
            .cvx_antigens
            .get(usize::from(cvx))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Equal for two series of an antigen exactly when they belong to the same series group.
    pub(crate) fn series_group_id(&self, antigen: usize, series: usize) -> usize {
        self.index
            .series_group_id
            .get(antigen)
            .and_then(|v| v.get(series))
            .copied()
            .unwrap_or(series)
    }

    pub(crate) fn series_order(&self, antigen: usize) -> &[usize] {
        self.index
            .series_order
            .get(antigen)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub(crate) fn group_cvx(&self, group: usize) -> &[Cvx] {
        self.index
            .group_cvx
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvx_parsing() {
        assert_eq!(parse_cvx("03"), Some(3));
        assert_eq!(parse_cvx(" 110 "), Some(110));
        assert_eq!(parse_cvx("00"), Some(0));
        assert_eq!(parse_cvx("x1"), None);
        assert_eq!(parse_cvx(""), None);
    }

    #[test]
    fn lenient_enums() {
        assert_eq!(
            ConditionKind::parse("Vaccine Count By Age"),
            Some(ConditionKind::VaccineCountByAge)
        );
        assert_eq!(
            CountLogic::parse("Greater Than"),
            Ok(Some(CountLogic::GreaterThan))
        );
        assert_eq!(CountLogic::parse("equal to"), Ok(Some(CountLogic::EqualTo)));
        assert_eq!(DoseType::parse("valid"), Ok(Some(DoseType::Valid)));
        assert_eq!(Logic::parse("n/a"), Ok(None));
        assert_eq!(SkipContext::parse(" both "), Some(SkipContext::Both));
    }
}
