//! Whole watch cycles against the real registry behind a fault-injecting proxy
//! (`drydock_testkit::fault_proxy`), over real containers on the test engine: the fault matrix
//! and the soak. Needs `scripts/test-env.sh`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

mod matrix;
mod soak;
mod support;
