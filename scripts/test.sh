#!/usr/bin/env bash
# The whole test suite, as the README states it: `scripts/test.sh`.
# Installs and starts what the tests need, then runs every test of the workspace once.
set -euo pipefail
cd "$(dirname "$0")/.."

# CI builds from scratch: incremental artefacts only cost disk there.
if [ "${CI:-}" = "true" ]; then
    export CARGO_INCREMENTAL=0
fi

# The Docker engine and the registries the adapter tests run against.
scripts/test-env.sh

# The embedding examples as users run them: `cargo test` builds examples as test harnesses,
# so tests/examples.rs runs these plain builds.
cargo build --workspace --all-features --examples --locked
cargo test --workspace --all-features --all-targets --locked
# Doc tests are not part of --all-targets.
cargo test --workspace --all-features --doc --locked
