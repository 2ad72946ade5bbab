//! A patient's immunization history as the registry shows it: every report as stored, and the
//! vaccination events consolidated from them.
//!
//! The clinical rule lives here, not in storage: reports of the same vaccine group on the same
//! date are one vaccination event, and the event shows the best report — administered (RXA-9
//! `00`) with lot and manufacturer beats administered, which beats a historical report; then the
//! first received. Every source stays on record.

use std::collections::BTreeMap;

use crate::date::Date;

use super::model::ObservationKind;

/// One dose report as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredDose {
    pub id: i64,
    pub organization_id: i64,
    /// The reporting organization's code (the namespace of its ORC-3).
    pub organization_code: String,
    pub filler_order_id: String,
    pub administered_on: Date,
    pub cvx: String,
    pub vaccine_text: Option<String>,
    pub vaccine_group: String,
    pub amount: Option<String>,
    pub amount_units: Option<String>,
    pub info_source: Option<String>,
    pub lot_number: Option<String>,
    /// RXA-16 as sent.
    pub lot_expiration: Option<String>,
    pub mvx: Option<String>,
    pub completion_status: Option<String>,
    pub route: Option<String>,
    pub site: Option<String>,
    pub deleted: bool,
    /// When the registry first received this report (RFC 3339, UTC), for timeliness.
    pub first_received_at: Option<String>,
}

/// A stored record that is not a dose (refusal, not administered, evidence of immunity).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObservation {
    pub kind: ObservationKind,
    pub code: String,
    pub observed_on: Date,
    pub reason_code: Option<String>,
    pub code_text: Option<String>,
    pub reason_text: Option<String>,
}

/// A vaccination event: the preferred report of one (vaccine group, date), and how many
/// reports (sources) said so.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsolidatedDose {
    pub dose: StoredDose,
    pub sources: usize,
}

/// Administered (RXA-9 00) with lot and MVX beats administered, which beats historical; then
/// the first report.
fn preference(d: &StoredDose) -> (u8, i64) {
    let administered = d.info_source.as_deref() == Some("00");
    let complete = d.lot_number.is_some() && d.mvx.is_some();
    let rank = match (administered, complete) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 3,
    };
    (rank, d.id)
}

/// One event per (date, vaccine group), in date order; deleted reports do not count.
pub fn consolidate(doses: Vec<StoredDose>) -> Vec<ConsolidatedDose> {
    let mut events: BTreeMap<(Date, String), Vec<StoredDose>> = BTreeMap::new();
    for d in doses.into_iter().filter(|d| !d.deleted) {
        events
            .entry((d.administered_on, d.vaccine_group.clone()))
            .or_default()
            .push(d);
    }
    events
        .into_values()
        .filter_map(|mut reports| {
            reports.sort_by_key(preference);
            let sources = reports.len();
            reports
                .into_iter()
                .next()
                .map(|dose| ConsolidatedDose { dose, sources })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn dose(id: i64, on: Date, group: &str, source: &str, lot: bool) -> StoredDose {
        StoredDose {
            id,
            organization_id: 1,
            filler_order_id: format!("F{id}"),
            administered_on: on,
            cvx: "08".into(),
            vaccine_group: group.into(),
            info_source: Some(source.into()),
            lot_number: lot.then(|| "LOT".into()),
            mvx: lot.then(|| "MSD".into()),
            ..StoredDose::default()
        }
    }

    #[test]
    fn one_event_per_group_and_date_preferring_administered_with_lot() {
        let jan = date(2024, 1, 1);
        let events = consolidate(vec![
            dose(1, jan, "45", "01", false),
            dose(2, jan, "45", "00", true),
            dose(3, jan, "45", "00", false),
            dose(4, date(2024, 2, 1), "45", "01", false),
        ]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].dose.id, 2);
        assert_eq!(events[0].sources, 3);
        assert_eq!(events[1].sources, 1);
    }

    #[test]
    fn historical_with_lot_beats_historical_without_and_ties_go_to_the_first() {
        let day = date(2024, 3, 1);
        let events = consolidate(vec![
            dose(7, day, "45", "01", false),
            dose(5, day, "45", "01", true),
            dose(6, day, "45", "01", true),
        ]);
        assert_eq!((events[0].dose.id, events[0].sources), (5, 3));
        // Another group on the same day is another event, in date then group order.
        let events = consolidate(vec![
            dose(1, day, "89", "00", true),
            dose(2, day, "45", "00", true),
            dose(3, date(2023, 1, 1), "89", "00", true),
        ]);
        let order: Vec<i64> = events.iter().map(|e| e.dose.id).collect();
        assert_eq!(order, [3, 2, 1]);
    }

    #[test]
    fn deleted_reports_do_not_count() {
        let mut d = dose(1, date(2024, 1, 1), "45", "00", true);
        d.deleted = true;
        assert!(consolidate(vec![d]).is_empty());
    }
}
