//! drydock-registry against real registries (Debian's docker-registry, started by
//! `scripts/test-env.sh`) in three setups, and against a scripted loopback server for the faults a
//! real registry cannot produce.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod faults;
mod real;
mod support;
