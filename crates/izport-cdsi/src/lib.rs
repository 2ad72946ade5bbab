//! CDC CDSi (Clinical Decision Support for Immunization): evaluation of a vaccination history and
//! a forecast of what is due, driven by CDC's supporting data. Pure: no I/O, no clock.
//!
//! - [`SupportingData`]: the schedule, read from CDC's XML ([`SupportingData::from_xml`]) or from
//!   izport's compact text ([`SupportingData::from_compact`], [`SupportingData::builtin`]).
//! - [`assess`]: evaluates every dose and forecasts every vaccine group for one patient on one
//!   assessment date (Logic Specification for ACIP Recommendations 4.6, chapters 4–9).
//! - [`testcases`]: reads and runs CDC's test-case sheets (CSV).

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
    DoseEvaluation, EvaluationReason, EvaluationStatus, GroupForecast, LotExpiration,
    ObservationCode, Patient, PatientSeries, Reasons, SeriesForecast, SeriesStatus, TargetDose,
    TargetDoseStatus, VaccineGroupAssessment,
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
