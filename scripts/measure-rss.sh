#!/usr/bin/env bash
# Measures drydock's memory with N watched containers (default 50) on the test environment:
# idle RSS after the start-up watch, and peak RSS (VmHWM) over 10 manual watch cycles.
# Usage: scripts/measure-rss.sh [N]   (needs `cargo build --release -p drydock` first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}
BIN=target/release/drydock
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p drydock" >&2; exit 1; }
scripts/test-env.sh

tag="rss-$$"
work=$(mktemp -d)
store=$(mktemp -d)
cleanup() {
    docker ps -aq --filter "label=dd.test=$tag" | xargs -r docker rm -f >/dev/null
    docker images --format '{{.Repository}}:{{.Tag}}' | grep "/drydock-test/$tag" | xargs -r docker rmi -f >/dev/null
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work" "$store"
}
trap cleanup EXIT

mkdir -p "$work/bin"
cp "$(command -v busybox)" "$work/bin/busybox"
ln -sf busybox "$work/bin/sh"; ln -sf busybox "$work/bin/sleep"
repos=$(( (N + 4) / 5 ))
for r in $(seq "$repos"); do
    for v in 1.0.0 1.1.0; do
        echo "$tag $r $v" > "$work/content"
        ref="127.0.0.1:5000/drydock-test/$tag-$r:$v"
        tar -C "$work" -c . | docker import -c 'CMD ["/bin/sleep","3600"]' - "$ref" >/dev/null
        docker push -q "$ref" >/dev/null
    done
done
for i in $(seq "$N"); do
    r=$(( (i - 1) % repos + 1 ))
    docker run -d --network none --label "dd.test=$tag" --label dd.watch=true \
        "127.0.0.1:5000/drydock-test/$tag-$r:1.0.0" /bin/sleep 3600 >/dev/null
done

port=3917
DD_STORE_PATH="$store" DD_SERVER_PORT=$port DD_ANONYMOUS_AUTH_CONFIRM=true \
    DD_WATCHER_LOCAL_WATCHBYDEFAULT=false DD_LOG_LEVEL=warn "$BIN" >"$work/drydock.log" 2>&1 &
pid=$!
start=$(date +%s%N)
until curl -sf "http://127.0.0.1:$port/api/app" >/dev/null; do sleep 0.01; done
first_answer_ms=$(( ($(date +%s%N) - start) / 1000000 ))
for _ in $(seq 300); do
    found=$( (curl -s "http://127.0.0.1:$port/api/containers" || true) | grep -o '"updateAvailable":true' | wc -l || true)
    [ "$found" -ge "$N" ] && break
    sleep 0.2
done
[ "$found" -ge "$N" ] || { echo "only $found of $N containers have their update after 60 s" >&2; tail -5 "$work/drydock.log" >&2; exit 1; }
sleep 2
idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
for _ in $(seq 10); do curl -sf -X POST "http://127.0.0.1:$port/api/containers/watch" >/dev/null; done
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
after_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
size_kb=$(( $(stat -c %s "$BIN") / 1024 ))
echo "containers=$N repositories=$repos first_api_answer_ms=$first_answer_ms idle_rss_kb=$idle_kb peak_rss_kb=$peak_kb rss_after_cycles_kb=$after_kb binary_kb=$size_kb"
