//! The integration tests, in one binary (one link of the crate instead of one per file).
//!
//! Each module was once a file of its own; `common` spawns the real server over a fresh
//! database (SQLite, or PostgreSQL with `IZPORT_TEST_DATABASE_URL`; `tests/load.rs` and
//! `tests/seed.rs` share it for now); `inputs` finds the shared files some tests compare
//! against.
//!
//! A test that needs such a file is `#[ignore = "needs IZPORT_…: …"]`: `cargo test` lists it as
//! ignored with that reason, `cargo test -- --ignored` runs it (and it fails, naming the
//! variable, if the variable is unset). `.ci/run` sets every input and runs them all.

#[path = "../common/mod.rs"]
mod common;
mod inputs;
mod rsp;
mod text;

mod batch;
mod cdsi;
mod cli;
mod codes_import;
mod conformance;
mod corpus;
mod forecast;
mod fuzz;
mod maintenance;
mod metrics;
mod mtls;
mod notify;
mod query;
mod query_codec;
mod registry;
mod security;
mod soap_endpoint;
