#!/usr/bin/env bash
# Geo answers with EDNS Client Subnet: Meridian vs gdnsd 3.x (plugin_geoip), the SAME MaxMind
# DB file (built by `meridian geo compile`), an equivalent policy (map/resources), one UDP
# serving thread each, fixed offered load. Two workloads:
#   fixed: dnsperf, every query with the same ECS subnet (measures a hot path / cache);
#   mix:   examples/dnsload.rs, round robin over 20 000 distinct ECS /24 subnets.
# Before measuring, both servers are asked the same questions for a sample of subnets and the
# mismatch count is printed (answers must agree; ECS scopes are reported).
# Prints QPS and CPU per answered query (user, system; see bench/lib.sh) and the gdnsd/Meridian ratio
# (>= 1.0: Meridian uses no more CPU per query than gdnsd).
# Usage: [REPEAT=3] [KEEP=1] [MERIDIAN_BIN=path] bench/geo-vs-gdnsd.sh [QPS] [SECONDS]
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
need dnsperf gdnsd taskset dig pgrep awk perf
W=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null || true; if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi' EXIT
RESULTS="$W/results"; : >"$RESULTS"

cargo build --release -q --bin meridian --example dnsload

# --- one City database, described in CSV: ~16 000 networks in 20.0.0.0-59.255.255.255 ---
# /16s (some split into /18s, 5% absent), locations kept for runs of neighbours so that
# the widest-prefix merging (ECS scope) has work to do.
awk 'BEGIN {
  srand(7)
  n = split("AS,CN,BJ,39.9,116.4 AS,CN,GD,23.1,113.3 AS,JP,13,35.7,139.7 AS,SG,,1.3,103.8 AS,IN,MH,19.1,72.9 EU,DE,HE,50.1,8.7 EU,FR,IDF,48.9,2.3 EU,GB,ENG,51.5,-0.1 EU,NL,NH,52.4,4.9 NA,US,CA,37.4,-122.1 NA,US,NY,40.7,-74.0 NA,CA,ON,43.7,-79.4 SA,BR,SP,-23.5,-46.6 AF,ZA,GP,-26.2,28.0 OC,AU,NSW,-33.9,151.2 OC,NZ,AUK,-36.8,174.8", L, " ")
  loc = L[1]
  print "# bench City database: network,continent,country,subdivision,latitude,longitude"
  for (a = 20; a < 60; a++) for (b = 0; b < 256; b++) {
    if (rand() < 0.4) loc = L[int(rand() * n) + 1]
    r = rand()
    if (r < 0.05) continue
    if (r < 0.25) { for (c = 0; c < 256; c += 64) print a "." b "." c ".0/18," L[int(rand() * n) + 1] }
    else print a "." b ".0.0/16," loc
  }
}' >"$W/city.csv"
target/release/meridian geo compile --kind city "$W/city.csv" "$W/city.mmdb"

# 20 000 distinct client /24s: 95% inside the database, 5% outside it (service default).
awk 'BEGIN {
  srand(11)
  while (k < 20000) {
    if (rand() < 0.95) s = (20 + int(rand() * 40)) "." int(rand() * 256) "." int(rand() * 256) ".0/24"
    else s = (60 + int(rand() * 40)) "." int(rand() * 256) "." int(rand() * 256) ".0/24"
    if (!(s in seen)) { seen[s] = 1; print s; k++ }
  }
}' >"$W/subnets.txt"

# --- Meridian ---
MPORT=25363; GPORT=25364
cat >"$W/example.test.zone" <<'Z'
$ORIGIN example.test.
$TTL 3600
@   IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300
    IN NS  ns1
ns1 IN A   192.0.2.53
Z
cat >"$W/meridian.toml" <<C
[server]
listen = ["127.0.0.1:$MPORT"]
zones = ["example.test.zone"]
udp_threads = 1
$MERIDIAN_RRL

[geo]
city = "city.mmdb"

[site.hq]
links = { default = ["192.0.2.10"] }
[site.dr]
links = { default = ["192.0.2.20"] }
[site.ap]
links = { default = ["192.0.2.30"] }

[service.www]
name = "www.example.test"
ttl = 30
sites = ["hq", "dr"]
mode = "failover"
fallback = "all"

[[service.www.route]]
match = { country = ["CN"] }
sites = ["hq", "dr"]
[[service.www.route]]
match = { country = ["GB"] }
sites = ["ap", "dr"]
[[service.www.route]]
match = { continent = ["AS", "OC"] }
sites = ["ap", "hq"]
[[service.www.route]]
match = { continent = ["EU", "NA"] }
sites = ["dr", "hq"]
C

# --- gdnsd: the same map (continent -> country, first match wins the same way) ---
G="$W/gdnsd"; mkdir -p "$G/zones" "$G/geoip" "$G/run" "$G/state"
cp "$W/city.mmdb" "$G/geoip/city.mmdb"
cat >"$G/zones/example.test" <<'Z'
$TTL 3600
@   SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300
@   NS  ns1
ns1 A   192.0.2.53
www 30 DYNA geoip!www
Z
cat >"$G/config" <<C
options => {
  listen => [ 127.0.0.1 ]
  dns_port => $GPORT
  udp_threads => 1
  tcp_threads => 1
  run_dir => $G/run
  state_dir => $G/state
}
plugins => {
  geoip => {
    maps => {
      bench => {
        geoip2_db => city.mmdb
        datacenters => [hq, dr, ap]
        map => {
          default => [hq, dr]
          AS => { default => [ap, hq], CN => [hq, dr] }
          OC => [ap, hq]
          EU => { default => [dr, hq], GB => [ap, dr] }
          NA => [dr, hq]
        }
      }
    }
    resources => {
      www => { map => bench, dcmap => { hq => 192.0.2.10, dr => 192.0.2.20, ap => 192.0.2.30 } }
    }
  }
}
C

taskset -c 0 "$MBIN" serve --config "$W/meridian.toml" 2>"$W/meridian.log" & MPID=$!
taskset -c 0 gdnsd -c "$G" start 2>"$W/gdnsd.log" & GPID=$!
wait_udp $MPORT ns1.example.test || { cat "$W/meridian.log" >&2; exit 1; }
wait_udp $GPORT ns1.example.test || { cat "$W/gdnsd.log" >&2; exit 1; }

echo "== same answers? (meridian vs gdnsd, 2000 of the 20000 subnets)"
target/release/examples/dnsload compare --server 127.0.0.1:$MPORT --other 127.0.0.1:$GPORT \
  --subnets "$W/subnets.txt" --sample 2000 --show 5

FIXED=20.1.2.0/24
ECSOPT="8:00011800140102"   # dnsperf -E code:hex: family 1, source /24, scope 0, address 20.1.2
echo "www.example.test A" >"$W/q.txt"
echo "== offered load: $QPS qps for $SECS s per measurement, $REPEAT rounds (servers alternate);"
echo "   load generator on CPU 1, servers on CPU 0, one UDP thread each"
for r in $(seq 1 "$REPEAT"); do
  echo "-- round $r: fixed ECS subnet $FIXED (dnsperf -E $ECSOPT)"
  measure "meridian geo+ECS fixed" $MPID $MPORT "$W/q.txt" "$QPS" "$SECS" -E "$ECSOPT"
  measure "gdnsd geo+ECS fixed" $GPID $GPORT "$W/q.txt" "$QPS" "$SECS" -E "$ECSOPT"
  echo "-- round $r: 20000 distinct ECS subnets (examples/dnsload.rs)"
  measure_dnsload "meridian geo+ECS mix" $MPID $MPORT "$W/subnets.txt" "$QPS" "$SECS"
  measure_dnsload "gdnsd geo+ECS mix" $GPID $GPORT "$W/subnets.txt" "$QPS" "$SECS"
done

echo "== summary: medians of $REPEAT rounds, CPU in us per answered query"
echo "   ratio = gdnsd / Meridian (>= 1.00: Meridian uses no more CPU per query than gdnsd)"
printf "%-6s %9s %9s %8s %8s %8s %8s %7s %7s\n" load m_qps g_qps m_user g_user m_sys g_sys u_ratio t_ratio
for w in fixed mix; do
  m=$(median_row "meridian geo+ECS $w" "$RESULTS"); g=$(median_row "gdnsd geo+ECS $w" "$RESULTS")
  echo "$w $m $g" | awk '{ printf "%-6s %9.0f %9.0f %8.3f %8.3f %8.3f %8.3f %7.2f %7.2f\n", $1, $2, $5, $3, $6, $4, $7, $6 / $3, ($6 + $7) / ($3 + $4) }'
done
