#!/usr/bin/env bash
# Resident memory of a large zone, Meridian next to NSD: once serving, then after each of
# RELOADS reloads (SIGHUP to both; the zone file is touched first, since NSD re-reads only
# files whose mtime changed). A script that prints figures, not a test.
# NSD forks three processes: xfrd, "main", which reads the zone and holds it, and the server
# child that answers (server-count 1), forked from main after each load and sharing the
# zone's pages copy-on-write. "nsd_main" is main's RSS (the whole zone resident: the figure
# compared), "nsd_srv" the server child's, "nsd_pss" the proportional set size summed over
# every NSD process (each shared page counted once). Meridian is one process: RSS and PSS.
# Usage: [RECORDS=1000000] [RELOADS=10] [MERIDIAN_BIN=path] bench/zone-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
MBIN=${MERIDIAN_BIN:-target/release/meridian}
N=${RECORDS:-1000000}; RELOADS=${RELOADS:-10}
[ "$N" -le 2000000 ] || { echo "keep RECORDS <= 2000000" >&2; exit 2; }
[ "$RELOADS" -le 100 ] || { echo "keep RELOADS <= 100" >&2; exit 2; }
need nsd dig pgrep
W=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"' EXIT
[ -n "${MERIDIAN_BIN:-}" ] || cargo build --release -q
gen_zone "$N" "$W/big.test.zone"
MPORT=25361; NPORT=25362
cat > "$W/meridian.toml" <<C
[server]
listen = ["127.0.0.1:$MPORT"]
zones = ["big.test.zone"]
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
  name: big.test
  zonefile: big.test.zone
C
# answers PORT: the server answers a name from the end of the zone
answers() { dig @127.0.0.1 -p "$1" +short +tries=1 +time=2 "h$(( (N - 1) / 5 * 5 )).big.test" A 2>/dev/null | grep -q '^10\.'; }
# until_true SECONDS CMD...: poll CMD every 0.1 s; fail after SECONDS
until_true() {
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || { echo "timed out: $*" >&2; return 1; }; sleep 0.1; done
}
# NSD's processes by role (their names: "nsd: xfrd", "nsd: main", "nsd: server 1")
nsd_role() { local p; for p in $(tree "$NPID"); do grep -q "$1" "/proc/$p/comm" 2>/dev/null && echo "$p"; done; }
nsd_leaves() { nsd_role server; }
nsd_row() {
  local main=0 srv=0 p
  for p in $(nsd_role main); do main=$((main + $(rss_kib "$p"))); done
  for p in $(nsd_role server); do srv=$((srv + $(rss_kib "$p"))); done
  # shellcheck disable=SC2046
  echo "$((main / 1024)) $((srv / 1024)) $(( $(pss_kib $(tree "$NPID")) / 1024 ))"
}
# settle: wait until neither server's RSS moves by more than 1 MiB in a second (the replaced
# zone is freed after the switch, on another thread), at least 2 s and at most 60 s
settle() {
  local a b i
  sleep 1
  for i in $(seq 1 60); do
    a="$(m_row) $(nsd_row)"; sleep 1; b="$(m_row) $(nsd_row)"
    paste <(tr ' ' '\n' <<<"$a") <(tr ' ' '\n' <<<"$b") | awk '{ d = $1 - $2; if (d > 1 || d < -1) m = 1 } END { exit m }' && return 0
  done
}
m_reloads() { grep -c 'reloaded' "$W/meridian.log" || true; }
m_row() { echo "$(( $(rss_kib "$MPID") / 1024 )) $(( $(pss_kib "$MPID") / 1024 ))"; }

echo "zone: $N records + SOA/NS/glue, $(wc -c <"$W/big.test.zone") bytes; $(uptime | sed 's/.*load/load/')"
t0=$(date +%s%N)
"$MBIN" serve --config "$W/meridian.toml" >"$W/meridian.log" 2>&1 & MPID=$!
until_true 300 answers $MPORT; t1=$(date +%s%N)
nsd -d -c "$W/nsd.conf" 2>"$W/nsd.log" & NPID=$!
until_true 300 answers $NPORT; t2=$(date +%s%N)
echo "start to first answer: meridian $(( (t1 - t0) / 1000000 )) ms, nsd $(( (t2 - t1) / 1000000 )) ms"
settle
printf '%-8s %10s %10s %10s %10s %10s %8s\n' step m_rss_MiB m_pss_MiB nsd_main_MiB nsd_srv_MiB nsd_pss_MiB m/nsd
row() {
  local m n; m=$(m_row); n=$(nsd_row)
  echo "$1 $m $n" | awk '{ printf "%-8s %10d %10d %10d %10d %10d %8.2f\n", $1, $2, $3, $4, $5, $6, $2 / $4 }'
  echo "$1 $m $n" >>"$W/series"
}
row serving
for i in $(seq 1 "$RELOADS"); do
  touch -d "@$(( $(date +%s) + i ))" "$W/big.test.zone"
  before=$(m_reloads); leaves=$(nsd_leaves | sort | paste -sd,)
  kill -HUP "$MPID"; kill -HUP "$(cat "$W/nsd.pid")"
  m_moved() { [ "$(m_reloads)" -gt "$before" ]; }
  until_true 300 m_moved
  nsd_moved() { [ "$(nsd_leaves | sort | paste -sd,)" != "$leaves" ] && answers $NPORT; }
  until_true 300 nsd_moved
  settle
  row "reload$i"
done
awk 'NR == 1 { m = $2; n = $4 } END { printf "after %d reloads: meridian %d MiB (%.2fx its first level), nsd %d MiB (%.2fx); ratio meridian/nsd %.2f first, %.2f last\n", NR - 1, $2, $2 / m, $4, $4 / n, m / n, $2 / $4 }' "$W/series"
