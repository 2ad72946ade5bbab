//! The integration tests, in one binary (one link of the crate instead of one per file).
//!
//! Each module was once a file of its own; `common` spawns the real server over a fresh
//! database (SQLite, or PostgreSQL with `IZPORT_TEST_DATABASE_URL`). `tests/load.rs` and
//! `tests/seed.rs` share `common` for now.

#[path = "../common/mod.rs"]
mod common;

mod codes_import;
mod conformance;
mod corpus;
mod maintenance;
mod query;
mod query_codec;
mod registry;
mod soap_endpoint;
