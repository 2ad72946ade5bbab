//! The report model and its computation: an [`Accumulator`] takes each message's facts in turn
//! (memory bounded by the number of rules, fields and distinct administration dates, never by
//! the number of messages), then [`Accumulator::finish`] scores them with the [`Weights`], the
//! downtime windows and the organization's readiness. docs/dqa.md explains every measure.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::facts::{Kind, MessageFacts, Placed, Tier, FIELD_CHECKS};
use crate::date::Date;

/// The control ids a finding lists at most; the rest are counted.
pub const MAX_CONTROL_IDS: usize = 50;

/// Every weight the scores use; `serve --dqa-weights FILE` (JSON) changes any of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Shares of the overall score (of the scores that apply).
    pub completeness: f64,
    pub quality: f64,
    pub timeliness: f64,
    /// Completeness: weight of a field by its tier.
    pub required: f64,
    pub expected: f64,
    pub recommended: f64,
    /// Quality: points a message loses per error and per warning (of 100).
    pub error_penalty: f64,
    pub warning_penalty: f64,
    /// Timeliness: points of a report received within 1 day, 7 days, 30 days, later.
    pub within_1_day: f64,
    pub within_7_days: f64,
    pub within_30_days: f64,
    pub later: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            completeness: 40.0,
            quality: 40.0,
            timeliness: 20.0,
            required: 3.0,
            expected: 2.0,
            recommended: 1.0,
            error_penalty: 100.0,
            warning_penalty: 25.0,
            within_1_day: 100.0,
            within_7_days: 70.0,
            within_30_days: 30.0,
            later: 0.0,
        }
    }
}

impl Weights {
    /// Checks that every weight is a finite number, none negative, and the overall shares not
    /// all zero.
    pub fn check(&self) -> Result<(), String> {
        let all = [
            self.completeness,
            self.quality,
            self.timeliness,
            self.required,
            self.expected,
            self.recommended,
            self.error_penalty,
            self.warning_penalty,
            self.within_1_day,
            self.within_7_days,
            self.within_30_days,
            self.later,
        ];
        if all.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err("every DQA weight must be a number of zero or more".into());
        }
        if self.completeness + self.quality + self.timeliness <= 0.0 {
            return Err("the overall score needs a weight above zero".into());
        }
        if [
            self.within_1_day,
            self.within_7_days,
            self.within_30_days,
            self.later,
        ]
        .iter()
        .any(|p| *p > 100.0)
            || self.error_penalty > 100.0
            || self.warning_penalty > 100.0
        {
            return Err("points and penalties are out of 100".into());
        }
        Ok(())
    }

    fn tier(&self, t: Tier) -> f64 {
        match t {
            Tier::Required => self.required,
            Tier::Expected => self.expected,
            Tier::Recommended => self.recommended,
        }
    }
}

/// The bands registries use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Excellent,
    Good,
    Okay,
    Poor,
    Problem,
}

impl Band {
    /// 90 and up excellent, 80 to under 90 good, 70 to under 80 okay, 60 to under 70 poor,
    /// under 60 problem (89.9 is good, not excellent).
    pub fn of(score: f64) -> Band {
        if score >= 90.0 {
            Band::Excellent
        } else if score >= 80.0 {
            Band::Good
        } else if score >= 70.0 {
            Band::Okay
        } else if score >= 60.0 {
            Band::Poor
        } else {
            Band::Problem
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Band::Excellent => "Excellent",
            Band::Good => "Good",
            Band::Okay => "Okay",
            Band::Poor => "Poor",
            Band::Problem => "Problem",
        }
    }
}

/// A score out of 100 (one decimal) and its band; both absent when nothing was measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub value: Option<f64>,
    pub band: Option<Band>,
}

impl Score {
    fn of(value: Option<f64>) -> Score {
        let value = value.map(|v| (v * 10.0).round() / 10.0);
        Score {
            value,
            band: value.map(Band::of),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heading {
    pub organization: String,
    /// The batch file (a file report) or `None` (a period report).
    pub file_name: Option<String>,
    pub received_at: Option<String>,
    /// When processing started and ended (a file), or when the report was made (a period).
    pub processing_started_at: Option<String>,
    pub processed_at: String,
    pub processing_seconds: Option<f64>,
    /// A period report's dates (inclusive), `YYYY-MM-DD`.
    pub period_from: Option<String>,
    pub period_to: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckCounts {
    pub aa: u64,
    pub ae: u64,
    pub ar: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientCounts {
    pub new: u64,
    pub matched: u64,
    pub sent_to_review: u64,
    pub not_kept: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaccinationCounts {
    pub administered: u64,
    pub historical: u64,
    pub refusals: u64,
    pub not_administered: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub messages: u64,
    pub vaccination_updates: u64,
    pub queries: u64,
    pub other_messages: u64,
    pub acknowledgements: AckCounts,
    pub patients: PatientCounts,
    pub vaccinations: VaccinationCounts,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub completeness: Score,
    pub quality: Score,
    pub timeliness: Score,
    pub overall: Score,
}

/// One completeness field's measure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldMeasure {
    pub field: String,
    pub label: String,
    pub tier: Tier,
    pub weight: f64,
    pub present: u64,
    pub expected_in: u64,
    /// present / expected_in × 100 (one decimal); absent when the field was looked for nowhere.
    pub percent: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityMeasure {
    pub messages: u64,
    pub without_findings: u64,
    pub with_errors: u64,
    pub with_warnings_only: u64,
    pub errors: u64,
    pub warnings: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelinessBucket {
    pub label: String,
    /// The largest gap in days the bucket holds (`None`: no limit).
    pub max_days: Option<i64>,
    pub points: f64,
    pub count: u64,
}

/// A downtime window that excused late reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExcusingWindow {
    pub id: i64,
    /// `scheduled` or `outage`.
    pub kind: String,
    /// `registry` (everyone) or `organization`.
    pub scope: String,
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub excused: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelinessMeasure {
    /// Messages with an administered dose (the only ones timeliness measures).
    pub measured: u64,
    /// Counts after excusing downtime.
    pub buckets: Vec<TimelinessBucket>,
    /// Counts by the raw gap, before excusing downtime.
    pub raw_buckets: Vec<TimelinessBucket>,
    pub excused: u64,
    pub windows: Vec<ExcusingWindow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingSummary {
    pub rule: String,
    /// `E`, `W` or `I`.
    pub severity: String,
    pub count: u64,
    pub description: String,
    pub how_to_fix: String,
    /// MSH-10 of the messages it fired in (at most 50; `more_messages` counts the rest).
    pub control_ids: Vec<String>,
    pub more_messages: u64,
}

/// For an onboarding organization: where it stands on the road to production.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessView {
    pub status: String,
    /// Every message of the file was a test message (MSH-11 T) without an error.
    pub file_error_free: bool,
    /// The file counts toward readiness (error-free, and the organization is onboarding).
    pub counts_toward: bool,
    /// Error-free test messages in a row so far (as `izport org readiness` counts them).
    pub consecutive_clean: u64,
    pub required: u64,
    pub still_needed: u64,
    pub ready: bool,
}

/// One report: of a processed file, or of a period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `izport-dqa/1`.
    pub format: String,
    /// `file` or `period`.
    pub kind: String,
    pub heading: Heading,
    pub counts: Counts,
    pub scores: Scores,
    pub completeness: Vec<FieldMeasure>,
    pub quality: QualityMeasure,
    pub timeliness: TimelinessMeasure,
    pub findings: Vec<FindingSummary>,
    pub readiness: Option<ReadinessView>,
    pub weights: Weights,
    /// A period report's messages by door (absent from a file report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doors: Option<DoorCounts>,
}

/// How many of a period's messages came through each door, and in how many files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoorCounts {
    pub web_service: u64,
    pub batch_file: u64,
    pub files: u64,
}

pub const FORMAT: &str = "izport-dqa/1";

/// A downtime window as the report needs it.
#[derive(Clone, Debug)]
pub struct Downtime {
    pub id: i64,
    pub kind: String,
    pub organization: Option<String>,
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
}

/// What `izport org readiness` computed (the organization's status and its latest test
/// messages).
#[derive(Clone, Debug)]
pub struct ReadinessInput {
    pub status: String,
    pub consecutive_clean: u64,
    pub required: u64,
}

#[derive(Default)]
struct RuleTally {
    severity: String,
    count: u64,
    ids: Vec<String>,
    more: u64,
    /// The message it fired in last (a rule firing twice in a message lists it once).
    last: Option<(u64, String)>,
}

/// Takes messages one at a time; see the module's comment.
#[derive(Default)]
pub struct Accumulator {
    counts: Counts,
    fields: BTreeMap<String, (u64, u64)>,
    quality: QualityMeasure,
    quality_points: f64,
    /// (received date, received instant in whole seconds, latest administration) → messages.
    administered: BTreeMap<(Date, i64, Date), u64>,
    rules: BTreeMap<String, RuleTally>,
    all_test_and_clean: bool,
    any: bool,
    weights: Weights,
}

impl Accumulator {
    pub fn new(weights: Weights) -> Accumulator {
        Accumulator {
            all_test_and_clean: true,
            weights,
            ..Accumulator::default()
        }
    }

    /// One message: its MSH-10 (as recorded), MSA-1, when it was received and its facts.
    pub fn add(
        &mut self,
        control_id: Option<&str>,
        ack: &str,
        received_at: Timestamp,
        f: &MessageFacts,
    ) {
        self.any = true;
        let c = &mut self.counts;
        c.messages += 1;
        match f.kind {
            Some(Kind::Vxu) => c.vaccination_updates += 1,
            Some(Kind::Query) => c.queries += 1,
            _ => c.other_messages += 1,
        }
        match ack {
            "AA" => c.acknowledgements.aa += 1,
            "AE" => c.acknowledgements.ae += 1,
            _ => c.acknowledgements.ar += 1,
        }
        match f.placed {
            Some(Placed::New) => c.patients.new += 1,
            Some(Placed::Matched) => c.patients.matched += 1,
            Some(Placed::Review) => c.patients.sent_to_review += 1,
            Some(Placed::NotKept) => c.patients.not_kept += 1,
            None => {}
        }
        c.vaccinations.administered += u64::from(f.administered);
        c.vaccinations.historical += u64::from(f.historical);
        c.vaccinations.refusals += u64::from(f.refusals);
        c.vaccinations.not_administered += u64::from(f.not_administered);
        for (id, (present, of)) in &f.fields {
            let e = self.fields.entry(id.clone()).or_default();
            e.0 += u64::from(*present);
            e.1 += u64::from(*of);
        }
        // Quality: errors and warnings of the message; a rejection without an error finding
        // counts as one error.
        let mut errors = f.findings.iter().filter(|x| x.severity == "E").count() as u64;
        let warnings = f.findings.iter().filter(|x| x.severity == "W").count() as u64;
        if errors == 0 && ack != "AA" {
            errors = 1;
        }
        let q = &mut self.quality;
        q.messages += 1;
        q.errors += errors;
        q.warnings += warnings;
        match (errors, warnings) {
            (0, 0) => q.without_findings += 1,
            (0, _) => q.with_warnings_only += 1,
            _ => q.with_errors += 1,
        }
        let lost = self.weights.error_penalty * errors as f64
            + self.weights.warning_penalty * warnings as f64;
        self.quality_points += (100.0 - lost).max(0.0);
        if !f.test || errors > 0 {
            self.all_test_and_clean = false;
        }
        if let Some(given) = f.administered_on() {
            let day = crate::clock::utc_date(received_at);
            *self
                .administered
                .entry((day, received_at.as_second(), given))
                .or_default() += 1;
        }
        let control = control_id.unwrap_or("").to_string();
        for x in &f.findings {
            let t = self.rules.entry(x.rule.clone()).or_default();
            if t.count == 0 {
                t.severity = x.severity.clone();
            }
            t.count += 1;
            let this = (self.counts.messages, control.clone());
            if t.last.as_ref() == Some(&this) {
                continue;
            }
            t.last = Some(this);
            if t.ids.len() < MAX_CONTROL_IDS {
                t.ids.push(control.clone());
            } else {
                t.more += 1;
            }
        }
    }

    /// The report. `windows`: downtime that may excuse lateness (registry-wide, or this
    /// organization's); `readiness`: for an onboarding organization.
    pub fn finish(
        self,
        heading: Heading,
        kind: &str,
        windows: &[Downtime],
        readiness: Option<ReadinessInput>,
    ) -> Report {
        let w = &self.weights;
        // Completeness.
        let mut completeness = Vec::new();
        let (mut sum, mut total) = (0.0, 0.0);
        for check in FIELD_CHECKS {
            let (present, of) = self.fields.get(check.id).copied().unwrap_or((0, 0));
            let weight = w.tier(check.tier);
            let rate = (of > 0).then(|| present as f64 / of as f64);
            if let Some(r) = rate {
                sum += weight * r;
                total += weight;
            }
            completeness.push(FieldMeasure {
                field: check.id.to_string(),
                label: check.label.to_string(),
                tier: check.tier,
                weight,
                present,
                expected_in: of,
                percent: rate.map(|r| (r * 1000.0).round() / 10.0),
            });
        }
        let completeness_score = (total > 0.0).then(|| 100.0 * sum / total);
        // Quality.
        let quality_score =
            (self.quality.messages > 0).then(|| self.quality_points / self.quality.messages as f64);
        // Timeliness.
        let limits: [(&str, Option<i64>, f64); 4] = [
            ("within 1 day", Some(1), w.within_1_day),
            ("2 to 7 days", Some(7), w.within_7_days),
            ("8 to 30 days", Some(30), w.within_30_days),
            ("over 30 days", None, w.later),
        ];
        let bucket_of = |days: i64| {
            limits
                .iter()
                .position(|(_, max, _)| max.is_none_or(|m| days <= m))
                .unwrap_or(3)
        };
        let mut raw = [0u64; 4];
        let mut adjusted = [0u64; 4];
        let mut excused_by: BTreeMap<i64, u64> = BTreeMap::new();
        let mut measured = 0;
        for ((received_day, received_second, given), n) in &self.administered {
            measured += n;
            let days = given
                .until(*received_day)
                .map(|s| s.get_days())
                .unwrap_or(0)
                .max(0) as i64;
            let b = bucket_of(days);
            raw[b] += n;
            let mut to = b;
            if b > 0 {
                // Late: the lateness runs from the end of the first day after administration
                // to receipt. Downtime inside it excuses the report.
                let late_from = crate::date::add_days(*given, 2)
                    .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                    .map(|z| z.timestamp());
                let received = Timestamp::from_second(*received_second).ok();
                if let (Some(from), Some(until)) = (late_from, received) {
                    if let Some(win) = windows.iter().find(|win| {
                        win.starts_at < until && win.ends_at.is_none_or(|end| end > from)
                    }) {
                        *excused_by.entry(win.id).or_default() += n;
                        to = 0;
                    }
                }
            }
            adjusted[to] += n;
        }
        let points: f64 = adjusted
            .iter()
            .zip(limits.iter())
            .map(|(n, (_, _, p))| *n as f64 * p)
            .sum();
        let timeliness_score = (measured > 0).then(|| points / measured as f64);
        let buckets = |counts: &[u64; 4]| -> Vec<TimelinessBucket> {
            limits
                .iter()
                .zip(counts.iter())
                .map(|((label, max, p), n)| TimelinessBucket {
                    label: label.to_string(),
                    max_days: *max,
                    points: *p,
                    count: *n,
                })
                .collect()
        };
        let excused = excused_by.values().sum();
        let windows_used = windows
            .iter()
            .filter_map(|win| {
                excused_by.get(&win.id).map(|n| ExcusingWindow {
                    id: win.id,
                    kind: win.kind.clone(),
                    scope: if win.organization.is_some() {
                        "organization".into()
                    } else {
                        "registry".into()
                    },
                    starts_at: win.starts_at.to_string(),
                    ends_at: win.ends_at.map(|e| e.to_string()),
                    excused: *n,
                })
            })
            .collect();
        // Overall: the weighted mean of the scores that apply.
        let parts = [
            (completeness_score, w.completeness),
            (quality_score, w.quality),
            (timeliness_score, w.timeliness),
        ];
        let (s, t) = parts
            .iter()
            .filter_map(|(v, wt)| v.map(|v| (v * wt, *wt)))
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let overall = (t > 0.0).then(|| s / t);
        let findings = self
            .rules
            .into_iter()
            .map(|(rule, t)| {
                let info = crate::registry::rules::rule_info(&rule);
                FindingSummary {
                    description: info.map_or_else(
                        || "A check of the registry.".to_string(),
                        |i| i.description.to_string(),
                    ),
                    how_to_fix: super::fixes::how_to_fix(&rule, info.map(|i| i.location)),
                    rule,
                    severity: t.severity,
                    count: t.count,
                    control_ids: t.ids,
                    more_messages: t.more,
                }
            })
            .collect::<Vec<_>>();
        let mut findings = findings;
        findings.sort_by(|a, b| {
            sev_rank(&a.severity)
                .cmp(&sev_rank(&b.severity))
                .then(b.count.cmp(&a.count))
                .then(a.rule.cmp(&b.rule))
        });
        let readiness = readiness.filter(|r| r.status == "onboarding").map(|r| {
            let clean = self.any && self.all_test_and_clean;
            ReadinessView {
                counts_toward: clean,
                file_error_free: clean,
                still_needed: r.required.saturating_sub(r.consecutive_clean),
                ready: r.consecutive_clean >= r.required,
                status: r.status,
                consecutive_clean: r.consecutive_clean,
                required: r.required,
            }
        });
        Report {
            format: FORMAT.to_string(),
            kind: kind.to_string(),
            heading,
            counts: self.counts,
            scores: Scores {
                completeness: Score::of(completeness_score),
                quality: Score::of(quality_score),
                timeliness: Score::of(timeliness_score),
                overall: Score::of(overall),
            },
            completeness,
            quality: self.quality,
            timeliness: TimelinessMeasure {
                measured,
                buckets: buckets(&adjusted),
                raw_buckets: buckets(&raw),
                excused,
                windows: windows_used,
            },
            findings,
            readiness,
            weights: self.weights,
            doors: None,
        }
    }
}

fn sev_rank(s: &str) -> u8 {
    match s {
        "E" => 0,
        "W" => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dqa::facts::FindingFact;

    fn facts(
        placed: Placed,
        administered: u32,
        on: Option<&str>,
        fields: &[(&str, u32, u32)],
        findings: &[(&str, &str)],
    ) -> MessageFacts {
        MessageFacts {
            kind: Some(Kind::Vxu),
            placed: Some(placed),
            administered,
            latest_administered: on.map(str::to_string),
            fields: fields
                .iter()
                .map(|(id, p, o)| (id.to_string(), (*p, *o)))
                .collect(),
            findings: findings
                .iter()
                .map(|(rule, sev)| FindingFact {
                    rule: rule.to_string(),
                    severity: sev.to_string(),
                })
                .collect(),
            ..MessageFacts::default()
        }
    }

    fn heading() -> Heading {
        Heading {
            organization: "CLINIC".into(),
            file_name: Some("CLINIC24162.hl7".into()),
            received_at: Some("2024-06-10T12:00:00Z".into()),
            processing_started_at: None,
            processed_at: "2024-06-10T12:00:05Z".into(),
            processing_seconds: Some(5.0),
            period_from: None,
            period_to: None,
        }
    }

    /// Four messages received 2024-06-10 12:00 UTC, default weights. By hand:
    ///
    /// - A: AA, new patient, 1 administered dose given 06-10 (gap 0 days: within 1 day),
    ///   PID-5, PID-7, PID-11 and RXA-15 present; no findings.
    /// - B: AE, matched, 1 administered dose given 06-05 (gap 5: 2–7 days), PID-11 and RXA-15
    ///   missing; one error (RXA-3-future) and one warning (PID-8-missing).
    /// - C: AA, sent to review, 1 historical dose and 1 refusal, PID-11 present; two warnings.
    /// - D: AA, new, 1 administered dose given 04-01 (gap 70: over 30 days), PID-11 missing,
    ///   RXA-15 present.
    ///
    /// Completeness: PID-5 4/4 (weight 3), PID-7 4/4 (3), PID-11 2/4 (2), RXA-15 2/3 (2); the
    /// other fields were looked for nowhere and do not count:
    /// (3·1 + 3·1 + 2·0.5 + 2·2/3) / (3+3+2+2) = 8.333/10 = 83.3 → good.
    /// Quality: A 100, B 100 − 100 − 25 → 0, C 100 − 2·25 = 50, D 100: 250/4 = 62.5 → poor.
    /// Timeliness: A 100, B 70, D 0: 170/3 = 56.7 → problem.
    /// Overall: (83.333·40 + 62.5·40 + 56.667·20) / 100 = 69.67 → 69.7 → poor.
    ///
    /// With a scheduled registry-wide window on 2024-05-01 (inside D's lateness, 04-03 to
    /// 06-10, and outside B's, 06-07 to 06-10): D counts as within 1 day, so timeliness is
    /// (100 + 70 + 100)/3 = 90.0 → excellent and overall (3333.3 + 2500 + 1800)/100 = 76.3 →
    /// okay; one report excused, by that window.
    #[test]
    fn a_hand_computed_file() {
        let received: Timestamp = "2024-06-10T12:00:00Z".parse().unwrap();
        let all = [
            (
                "A",
                "AA",
                facts(
                    Placed::New,
                    1,
                    Some("2024-06-10"),
                    &[
                        ("PID-5", 1, 1),
                        ("PID-7", 1, 1),
                        ("PID-11", 1, 1),
                        ("RXA-15", 1, 1),
                    ],
                    &[],
                ),
            ),
            (
                "B",
                "AE",
                facts(
                    Placed::Matched,
                    1,
                    Some("2024-06-05"),
                    &[
                        ("PID-5", 1, 1),
                        ("PID-7", 1, 1),
                        ("PID-11", 0, 1),
                        ("RXA-15", 0, 1),
                    ],
                    &[("RXA-3-future", "E"), ("PID-8-missing", "W")],
                ),
            ),
            (
                "C",
                "AA",
                MessageFacts {
                    historical: 1,
                    refusals: 1,
                    ..facts(
                        Placed::Review,
                        0,
                        None,
                        &[("PID-5", 1, 1), ("PID-7", 1, 1), ("PID-11", 1, 1)],
                        &[("PID-8-missing", "W"), ("PID-10-unknown", "W")],
                    )
                },
            ),
            (
                "D",
                "AA",
                facts(
                    Placed::New,
                    1,
                    Some("2024-04-01"),
                    &[
                        ("PID-5", 1, 1),
                        ("PID-7", 1, 1),
                        ("PID-11", 0, 1),
                        ("RXA-15", 1, 1),
                    ],
                    &[],
                ),
            ),
        ];
        let run = |windows: &[Downtime]| {
            let mut acc = Accumulator::new(Weights::default());
            for (id, ack, f) in &all {
                acc.add(Some(id), ack, received, f);
            }
            acc.finish(
                heading(),
                "file",
                windows,
                Some(ReadinessInput {
                    status: "onboarding".into(),
                    consecutive_clean: 1,
                    required: 3,
                }),
            )
        };
        let r = run(&[]);
        let c = &r.counts;
        assert_eq!((c.messages, c.vaccination_updates), (4, 4));
        assert_eq!(
            c.acknowledgements,
            AckCounts {
                aa: 3,
                ae: 1,
                ar: 0
            }
        );
        assert_eq!(
            c.patients,
            PatientCounts {
                new: 2,
                matched: 1,
                sent_to_review: 1,
                not_kept: 0
            }
        );
        assert_eq!(
            c.vaccinations,
            VaccinationCounts {
                administered: 3,
                historical: 1,
                refusals: 1,
                not_administered: 0
            }
        );
        let s = &r.scores;
        assert_eq!(
            (s.completeness.value, s.completeness.band),
            (Some(83.3), Some(Band::Good))
        );
        assert_eq!(
            (s.quality.value, s.quality.band),
            (Some(62.5), Some(Band::Poor))
        );
        assert_eq!(
            (s.timeliness.value, s.timeliness.band),
            (Some(56.7), Some(Band::Problem))
        );
        assert_eq!(
            (s.overall.value, s.overall.band),
            (Some(69.7), Some(Band::Poor))
        );
        let counts: Vec<u64> = r.timeliness.buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, [1, 1, 0, 1]);
        assert_eq!(r.timeliness.excused, 0);
        assert_eq!(
            (
                r.quality.without_findings,
                r.quality.with_warnings_only,
                r.quality.with_errors
            ),
            (2, 1, 1)
        );
        // Findings: the error first, then the warnings by count; control ids only.
        let f: Vec<(&str, &str, u64, Vec<String>)> = r
            .findings
            .iter()
            .map(|f| {
                (
                    f.rule.as_str(),
                    f.severity.as_str(),
                    f.count,
                    f.control_ids.clone(),
                )
            })
            .collect();
        assert_eq!(
            f,
            [
                ("RXA-3-future", "E", 1, vec!["B".to_string()]),
                (
                    "PID-8-missing",
                    "W",
                    2,
                    vec!["B".to_string(), "C".to_string()]
                ),
                ("PID-10-unknown", "W", 1, vec!["C".to_string()]),
            ]
        );
        assert!(r.findings.iter().all(|f| !f.how_to_fix.is_empty()));
        let rd = r.readiness.clone().expect("onboarding");
        assert!(!rd.counts_toward && !rd.ready);
        assert_eq!(rd.still_needed, 2);

        let window = Downtime {
            id: 7,
            kind: "scheduled".into(),
            organization: None,
            starts_at: "2024-05-01T00:00:00Z".parse().unwrap(),
            ends_at: Some("2024-05-02T00:00:00Z".parse().unwrap()),
        };
        let r = run(&[window]);
        let s = &r.scores;
        assert_eq!(
            (s.timeliness.value, s.timeliness.band),
            (Some(90.0), Some(Band::Excellent))
        );
        assert_eq!(
            (s.overall.value, s.overall.band),
            (Some(76.3), Some(Band::Okay))
        );
        assert_eq!(s.completeness.value, Some(83.3));
        assert_eq!(r.timeliness.excused, 1);
        assert_eq!(r.timeliness.windows.len(), 1);
        assert_eq!(
            (r.timeliness.windows[0].id, r.timeliness.windows[0].excused),
            (7, 1)
        );
        let raw: Vec<u64> = r.timeliness.raw_buckets.iter().map(|b| b.count).collect();
        let adjusted: Vec<u64> = r.timeliness.buckets.iter().map(|b| b.count).collect();
        assert_eq!((raw, adjusted), (vec![1, 1, 0, 1], vec![2, 1, 0, 0]));
    }

    #[test]
    fn bands_and_weights() {
        assert_eq!(Band::of(90.0), Band::Excellent);
        assert_eq!(Band::of(89.9), Band::Good);
        assert_eq!(Band::of(70.0), Band::Okay);
        assert_eq!(Band::of(60.0), Band::Poor);
        assert_eq!(Band::of(59.9), Band::Problem);
        assert!(Weights::default().check().is_ok());
        let w: Weights = serde_json::from_str(r#"{"timeliness": 0}"#).unwrap();
        assert_eq!((w.timeliness, w.quality), (0.0, 40.0));
        assert!(serde_json::from_str::<Weights>(r#"{"timelyness": 1}"#).is_err());
        let bad = Weights {
            quality: -1.0,
            ..Weights::default()
        };
        assert!(bad.check().is_err());
    }
}
