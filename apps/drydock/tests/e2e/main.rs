//! The drydock binary end to end: the real engine and registry of the test environment,
//! containers with known tag sets, drydock configured by environment variables only, and every
//! route of the Container API checked for its shapes and codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

mod api;
mod crash;
mod disk;
mod notify;
mod schedule;
mod schemathesis;
mod security;
mod seeded;
mod server;
