//! The tools against the real service: the load generator against a server started through
//! `izport::server`'s public API, seeding and the Z34 bench against a fresh registry database.
//! SQLite by default; with `IZPORT_TEST_DATABASE_URL` (a PostgreSQL server), each test gets a
//! database of its own there.

mod common;
mod load;
mod seed;
