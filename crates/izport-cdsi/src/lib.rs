//! CDC CDSi (Clinical Decision Support for Immunization): evaluation of a vaccination history and
//! a forecast of what is due, driven by CDC's supporting data. Pure: no I/O, no clock.
//!
//! - [`SupportingData`]: the schedule, read from CDC's XML ([`SupportingData::from_xml`]) or from
//!   izport's compact text ([`SupportingData::from_compact`], [`SupportingData::builtin`]).
//! - [`assess`]: evaluates every dose and forecasts every vaccine group for one patient on one
//!   assessment date (Logic Specification for ACIP Recommendations 4.6, chapters 4–9). The
//!   [`Assessment`] borrows names from the data and dose ids from the doses.
//! - [`testcases`]: reads and runs CDC's test-case sheets (CSV) by the strict rule.
//!
//! # Compact format
//!
//! [`SupportingData::to_compact`] writes one record per line: a tag, then `|`-separated fields
//! (`;` separates list items; `\` escapes `\`, `|`, `;` and line breaks). Child records follow
//! their parent: `A` antigen, `S` series, `D` series dose with `DA` age, `DI` interval, `DL`
//! allowable interval, `DP`/`DW`/`DN` preferable/allowable/inadvertent vaccines, `K`/`KS`/`KC`
//! conditional skip, set and condition; `LC` conflicts, `G` vaccine groups, `X`/`XA` CVX map,
//! `O`/`OC` observations. Offsets are `6m-4d`, dates `YYYYMMDD`, flags `Y`/`N`, empty = n/a.
//! The first line is `CDSI-COMPACT 1`, the last `END|<record count>`, so a truncated text is
//! refused. The file built in ([`BUILTIN_COMPACT`], data 4.64) is regenerated from CDC's XML by
//! `cargo run -p izport-cdsi --example convert -- <supporting-data dir>`; the test
//! `regenerating_from_xml_gives_the_committed_file` checks it when `IZPORT_CDSI_DIR` is set.
//!
//! # Example
//!
//! ```
//! use izport_cdsi::{assess, AdministeredDose, Gender, Patient, SupportingData};
//! use jiff::civil::date;
//!
//! let data = SupportingData::builtin().unwrap();
//! let patient = Patient { birth_date: date(2025, 9, 6), gender: Gender::Female, birth_country: None };
//! let doses = [AdministeredDose {
//!     id: "1".into(), date: date(2025, 10, 15), cvx: 107, mvx: None,
//!     lot_expiration: None, substandard: false,
//! }];
//! let a = assess(&data, &patient, &doses, &[], date(2025, 11, 10));
//! let dtap = a.vaccine_group("DTaP/Tdap/Td").and_then(|g| g.primary()).unwrap();
//! assert_eq!(dtap.dose_number, Some(2));
//! ```

pub mod compact;
pub mod data;
pub mod date;
mod engine;
pub mod testcases;
mod xml;

pub use data::{Cvx, DataError, Gender, SupportingData};
pub use date::Offset;
pub use engine::{
    assess, AdministeredDose, AntigenAssessment, Assessment, DoseAssessment, DoseComponent,
    DoseEvaluation, EvaluationReason, EvaluationStatus, ForecastReason, GroupForecast,
    LotExpiration, ObservationCode, Patient, PatientSeries, Reasons, SeriesForecast, SeriesStatus,
    TargetDose, TargetDoseStatus, VaccineGroupAssessment,
};

/// The supporting-data release rendered in [`BUILTIN_COMPACT`].
pub const BUILTIN_VERSION: &str = "4.64";

/// CDC supporting data 4.64 in izport's compact format, generated from CDC's XML by
/// `cargo run -p izport-cdsi --example convert`.
pub const BUILTIN_COMPACT: &str = include_str!("../data/supporting-4.64.cdsi");

impl SupportingData {
    /// The supporting data built into this crate ([`BUILTIN_VERSION`]).
    pub fn builtin() -> Result<SupportingData, DataError> {
        SupportingData::from_compact(BUILTIN_COMPACT)
    }
}
