#!/usr/bin/env bash
# Zone loading: how long Meridian takes to read and validate a large zone (what a start or a
# SIGHUP reload of that zone costs), next to NSD's nsd-checkzone on the same file, and how long
# `meridian serve` takes from start to its first answer, and its resident memory then. A script that prints figures, not a test.
# Usage: [RECORDS=100000] [REPEAT=3] [MERIDIAN_BIN=path] bench/zone-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
MBIN=${MERIDIAN_BIN:-target/release/meridian}
N=${RECORDS:-100000}; REPEAT=${REPEAT:-3}
[ "$N" -le 2000000 ] || { echo "keep RECORDS <= 2000000" >&2; exit 2; }
need nsd-checkzone dig
W=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"' EXIT
cargo build --release -q
gen_zone "$N" "$W/big.test.zone"
PORT=25360
cat > "$W/meridian.toml" <<C
[server]
listen = ["127.0.0.1:$PORT"]
zones = ["big.test.zone"]
udp_threads = 1
C
ms() { echo "$(( ($2 - $1) / 1000000 ))"; }
echo "zone: $N records + SOA/NS/glue, $(wc -c < "$W/big.test.zone") bytes; $REPEAT rounds, milliseconds"
printf '%-6s %14s %14s %14s %12s\n' round meridian_check nsd_checkzone serve_to_answer serve_rss_MiB
for r in $(seq 1 "$REPEAT"); do
  t0=$(date +%s%N); "$MBIN" check --config "$W/meridian.toml" >/dev/null; t1=$(date +%s%N)
  nsd-checkzone big.test "$W/big.test.zone" >/dev/null; t2=$(date +%s%N)
  "$MBIN" serve --config "$W/meridian.toml" 2>"$W/serve.log" & P=$!
  until dig @127.0.0.1 -p "$PORT" +short +tries=1 +time=1 h0.big.test A 2>/dev/null | grep -q '^10\.'; do
    kill -0 "$P" 2>/dev/null || { cat "$W/serve.log" >&2; exit 1; }
    [ $(( ($(date +%s%N) - t2) / 1000000000 )) -lt 60 ] || { echo "no answer in 60 s" >&2; exit 1; }
    sleep 0.01
  done
  t3=$(date +%s%N); sleep 0.5
  rss=$(awk '/^VmRSS/ {printf "%d", $2 / 1024}' "/proc/$P/status")
  kill "$P"; wait "$P" 2>/dev/null || true
  printf '%-6s %14s %14s %14s %12s\n' "$r" "$(ms "$t0" "$t1")" "$(ms "$t1" "$t2")" "$(ms "$t2" "$t3")" "$rss"
done
