#!/usr/bin/env bash
# The benchmark of issue 8: starts the test environment, builds the release binaries, and
# measures drydock with 10, 50, 200 and 1000 containers at 0 and 30 ms of registry latency.
# Writes the table into docs/benchmarks.md and the figures into docs/benchmarks.json.
# Usage: scripts/bench.sh [drydock-bench options]   (e.g. --containers 10 --delays 0)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-env.sh
cargo build --release --locked -p drydock -p drydock-bench
exec target/release/drydock-bench --markdown docs/benchmarks.md --json docs/benchmarks.json "$@"
