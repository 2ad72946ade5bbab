//! izport: an immunization-registry data-exchange service.
//!
//! The request path runs one way: `soap` (envelope, faults, WSDL) → `auth` (organization
//! credentials) → `hl7` (codec, no I/O) → `registry` (validate, plan, record: pure logic over a
//! store trait) → `store` (sqlx, SQLite and PostgreSQL).

pub mod auth;
pub mod batch;
pub mod cli;
pub mod clock;
pub mod date;
pub mod dqa;
pub mod hl7;
pub mod maintenance;
pub mod registry;
pub mod server;
pub mod soap;
pub mod store;
pub mod telemetry;
