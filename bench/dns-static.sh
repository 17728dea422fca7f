#!/usr/bin/env bash
# Static answers: Meridian vs NSD on the same zone and the same query file, one server
# thread each, fixed offered load. Prints QPS and CPU per answered query (user, system).
# Usage: [REPEAT=3] [MERIDIAN_BIN=path] bench/dns-static.sh [QPS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# MERIDIAN_BIN: another meridian binary to serve with (e.g. an older build, for before/after)
MBIN=${MERIDIAN_BIN:-target/release/meridian}
# The load comes from one address, so rate limiting is off as NSD's is (rrl-ratelimit: 0);
# MERIDIAN_RRL='rrl = { rate = 10000000 }' measures the limiter's cost without limiting, and
# MERIDIAN_RRL= serves with a build older than the `rrl` key.
MERIDIAN_RRL=${MERIDIAN_RRL-'rrl = { rate = 0 }'}
QPS=${1:-50000}; SECS=${2:-10}; REPEAT=${REPEAT:-3}
[ "$SECS" -le 20 ] || { echo "keep each measurement <= 20 s" >&2; exit 2; }
need dnsperf nsd taskset dig pgrep perf
W=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"' EXIT
RESULTS="$W/results"; : >"$RESULTS"
cp zones/example.test.zone "$W/"
cat > "$W/queries.txt" <<Q
mail.example.test A
static.example.test A
static.example.test AAAA
alias.example.test A
example.test MX
example.test SOA
nx.example.test A
foo.wild.example.test A
example.test NS
ns1.example.test AAAA
Q
cargo build --release -q
MPORT=25353; NPORT=25354
cat > "$W/meridian.toml" <<C
[server]
listen = ["127.0.0.1:$MPORT"]
zones = ["example.test.zone"]
udp_threads = 1
$MERIDIAN_RRL
C
cat > "$W/nsd.conf" <<C
server:
  ip-address: 127.0.0.1@$NPORT
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$W"
  pidfile: "$W/nsd.pid"
  database: ""
  xfrdfile: "$W/xfrd.state"
  zonelistfile: "$W/zone.list"
  rrl-ratelimit: 0
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: example.test
  zonefile: example.test.zone
C
taskset -c 0 "$MBIN" serve --config "$W/meridian.toml" 2>"$W/meridian.log" & MPID=$!
taskset -c 0 nsd -d -c "$W/nsd.conf" 2>"$W/nsd.log" & NPID=$!
wait_udp $MPORT static.example.test; wait_udp $NPORT static.example.test
echo "offered load: $QPS qps for $SECS s per measurement, $REPEAT rounds, 10 names;"
echo "dnsperf on CPU 1, servers on CPU 0, one serving thread each (NSD: rrl-ratelimit 0)"
for r in $(seq 1 "$REPEAT"); do
  echo "-- round $r"
  measure "meridian static" $MPID $MPORT "$W/queries.txt" "$QPS" "$SECS"
  measure "nsd static" $NPID $NPORT "$W/queries.txt" "$QPS" "$SECS"
done
echo "== summary: medians of $REPEAT rounds, CPU in us per answered query; ratio = NSD / Meridian"
printf "%9s %9s %8s %8s %8s %8s %7s %7s\n" m_qps n_qps m_user n_user m_sys n_sys u_ratio t_ratio
m=$(median_row "meridian static" "$RESULTS"); n=$(median_row "nsd static" "$RESULTS")
echo "$m $n" | awk '{ printf "%9.0f %9.0f %8.3f %8.3f %8.3f %8.3f %7.2f %7.2f\n", $1, $4, $2, $5, $3, $6, $5 / $2, ($5 + $6) / ($2 + $3) }'
