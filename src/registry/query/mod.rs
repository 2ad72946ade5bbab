//! Immunization history queries: QBP^Q11 in, RSP^K11 out (CDC profiles Z34/Z44 → Z31/Z32/Z33/Z42).
//!
//! Pure parts only: [`request`] reads and validates a query, [`model`] is what the registry
//! knows about a patient, [`response`] writes the RSP for a [`QueryOutcome`], and [`read`]
//! reads an RSP back into the model (for tests and tools that check answers). Matching,
//! storage and auditing are the caller's.
//!
//! ```text
//! let request = parse_query(&msg, &limits, today)?;          // or Err(findings) → Rejected
//! let outcome = /* match request against the store */;
//! let rsp = build_rsp(&AckContext::from_message(&msg), &QueryEcho::from(&request),
//!                     &outcome, &request.warnings, &params);
//! ```

pub mod model;
pub mod read;
pub mod request;
pub mod response;

pub use model::{
    AddressView, CodedValue, DoseEvaluationView, DoseKind, DoseView, Forecast, ForecastView,
    ImmunityView, NextOfKinView, PatientId, PatientView, PhoneView, QueryProfile, VisDocument,
    VisView,
};
pub use read::{read_rsp, RspContent, RspPatient};
pub use request::{parse_query, parse_query_with, QueryLimits, QueryRequest};
pub use response::{build_rsp, QueryEcho, QueryOutcome, QueryStatus, ResponseProfile, RspParams};
