#!/usr/bin/env bash
# Static answers: Meridian vs NSD on the same zone and the same query file, one server
# thread each, fixed offered load. Prints QPS and CPU per answered query (user, system).
# Usage: bench/dns-static.sh [QPS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
QPS=${1:-50000}; SECS=${2:-10}
need dnsperf nsd taskset dig pgrep
W=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
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
taskset -c 0 target/release/meridian serve --config "$W/meridian.toml" 2>"$W/meridian.log" & MPID=$!
taskset -c 0 nsd -d -c "$W/nsd.conf" 2>"$W/nsd.log" & NPID=$!
wait_udp $MPORT static.example.test; wait_udp $NPORT static.example.test
echo "offered load: $QPS qps for $SECS s, 10 names, dnsperf on CPU 1, servers on CPU 0"
measure "meridian (static)" $MPID $MPORT "$W/queries.txt" "$QPS" "$SECS"
measure "nsd (static)" $NPID $NPORT "$W/queries.txt" "$QPS" "$SECS"
