#!/usr/bin/env bash
# The load benchmark of oa-api: GET /status and GET /jobs/summary at 64 connections, with
# 1,000,000 and with 1,000 jobs recorded (100 workers), measured with wrk (Debian's package).
# Usage: crates/oa-api/examples/load.sh [seconds per run, default 10]
# Target (issue 5): >= 50,000 requests/s and p99 <= 5 ms on the project's 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../../.."
duration="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release -p oa-api --example load
target="${CARGO_TARGET_DIR:-target}"
binary="$target/release/examples/load"

for jobs in 1000000 1000; do
    log="$(mktemp)"
    "$binary" --jobs "$jobs" --workers 100 >"$log" 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null || true' EXIT
    until grep -q '^listening on ' "$log"; do
        kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.2
    done
    url="$(sed -n 's/^listening on //p' "$log")"
    head -1 "$log"
    for path in /status /jobs/summary; do
        echo "==> $jobs jobs, GET $path"
        curl -s -o /dev/null -w "    response: %{size_download} bytes\n" "$url$path"
        wrk -t2 -c64 -d"${duration}s" --latency "$url$path" \
            | grep -E 'Requests/sec|Transfer/sec|^ +(50|90|99)%|Socket errors|Non-2xx'
    done
    kill "$server"
    wait "$server" 2>/dev/null || true
    trap - EXIT
    rm -f "$log"
done
