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

/// The fault tests run one at a time: the soak measures the whole process (RSS, descriptors),
/// which another test running beside it would move.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
