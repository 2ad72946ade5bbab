//! Tools around izport, outside the service: they use it only through its public API.
//!
//! * [`load`]: a load generator for any CDC IIS SOAP endpoint (HTTP or HTTPS), with its own
//!   HTTP client, TLS setup and SOAP reader, checking every answer;
//! * [`synth`]: deterministic synthetic patients and their VXU and Z34 messages;
//! * [`seed`]: a registry filled with synthetic patients through the store, and the Z34
//!   latency measured inside the service against it;
//! * [`cli`]: the `izport-load` command (`run`, `seed`, `bench-z34`).
//!
//! The crate depends on the `izport` library (for the seeded rows, the in-process registry,
//! the HL7 codec and the SOAP names), so it cannot be a dependency of the `izport` binary:
//! Cargo forbids the cycle. Hence a second binary, which production installations need not
//! have.

pub mod cli;
pub mod load;
pub mod seed;
pub mod synth;
