#!/usr/bin/env bash
# Health scheduler at scale: COUNT TCP targets on loopback (listeners spread over
# 127.0.1.1..127.0.1.ADDRS in one helper process), probed every INTERVAL_MS by the scheduler
# in a second process. Prints the prober's CPU share and RSS (its own /proc figures over the
# steady window, and ps's view at the end). Target: under one core, under 200 MiB.
#
#   bench/health_scale.sh [COUNT=10000] [INTERVAL_MS=1000] [SECONDS=20]
set -euo pipefail

COUNT=${1:-10000}
INTERVAL_MS=${2:-1000}
SECONDS_STEADY=${3:-20}
ADDRS=40
BASE_PORT=30000

cd "$(dirname "$0")/.."
cargo build --release --example health_scale
BIN=target/release/examples/health_scale

# COUNT listeners + in-flight probe sockets: raise the soft limit as far as allowed.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((COUNT + 2000)) ]; then
    echo "open file limit $(ulimit -n) is too low for $COUNT targets" >&2
    exit 1
fi

LOG=$(mktemp)
"$BIN" listen "$COUNT" "$ADDRS" "$BASE_PORT" >"$LOG" 2>&1 &
LISTENER=$!
trap 'kill "$LISTENER" 2>/dev/null || true; rm -f "$LOG"' EXIT

for _ in $(seq 1 100); do
    grep -q "^listening" "$LOG" && break
    kill -0 "$LISTENER" 2>/dev/null || { cat "$LOG"; echo "listener died" >&2; exit 1; }
    sleep 0.1
done
grep -q "^listening" "$LOG" || { cat "$LOG"; echo "listener not ready" >&2; exit 1; }

"$BIN" probe "$COUNT" "$ADDRS" "$BASE_PORT" "$INTERVAL_MS" "$SECONDS_STEADY" &
PROBER=$!
sleep $((SECONDS_STEADY / 2 + 2))
if kill -0 "$PROBER" 2>/dev/null; then
    echo "ps (prober, mid-run): $(ps -o %cpu=,rss= -p "$PROBER" | awk '{printf "cpu %s%% (lifetime avg), rss %.1f MiB", $1, $2/1024}')"
fi
wait "$PROBER"
echo "listener: $(ps -o %cpu=,rss= -p "$LISTENER" | awk '{printf "cpu %s%% (lifetime avg), rss %.1f MiB", $1, $2/1024}')"
