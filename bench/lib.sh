# Shared helpers for Meridian's benchmark scripts (sourced, not run).
# Method (see docs/performance.md): a fixed offered load from one load generator pinned to
# CPU 1, the server pinned to CPU 0 with one serving thread. The server's CPU time (all
# threads and child processes) is read from /proc/PID/stat before and after: its SUM is the
# scheduler's exact run time. Its user/system SPLIT is not usable per interval on a kernel
# with tick-based accounting (cputime_adjust rescales and clamps the cumulative split), so
# the split comes from sampling the server with `perf record -e cpu-clock` during the run:
# user = total x (share of samples outside the kernel). The figure that matters is CPU per
# answered query, above all its user part.

CLK_TCK=$(getconf CLK_TCK)

# need TOOL... : fail loudly when a tool is missing
need() {
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "missing tool: $t (Debian: apt-get install dnsperf nsd gdnsd linux-perf util-linux dnsutils)" >&2; exit 1; }
  done
}

# tree PID -> PID and all its descendants (NSD forks its server processes)
tree() { echo "$1"; for c in $(pgrep -P "$1" || true); do tree "$c"; done; }

# cpu_ticks PID -> "utime stime" (clock ticks, all threads of PID and its descendants)
cpu_ticks() {
  local u=0 s=0 p a b
  for p in $(tree "$1"); do
    # the command name (field 2) may hold spaces ("nsd: server 1"): cut up to its last ')'
    read -r a b < <(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12, $13}' || echo "0 0")
    a=${a:-0}; b=${b:-0}
    u=$((u + a)); s=$((s + b))
  done
  echo "$u $s"
}

# perf_start PID: sample the process tree of PID (all threads) until perf_stop
perf_start() {
  PERF_DATA=$(mktemp)
  local pids; pids=$(tree "$1" | paste -sd, -)
  taskset -c 1 perf record -q -e cpu-clock -F 2999 -p "$pids" -o "$PERF_DATA" >/dev/null 2>&1 &
  PERF_PID=$!
  sleep 0.5
}

# perf_stop: ends the sampling; sets PERF_SHARE (share of samples outside the kernel, 0..1)
# and PERF_SAMPLES. Runs in the calling shell (it must wait for perf, its child).
perf_stop() {
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_SAMPLES=$(perf script -i "$PERF_DATA" -F ip 2>/dev/null | wc -l)
  PERF_SHARE=$(perf report -i "$PERF_DATA" --no-children --sort dso -g none --stdio 2>/dev/null |
    awk '/\[kernel\.kallsyms\]/ { k += $1 } END { printf "%.4f\n", 1 - k / 100 }')
  rm -f "$PERF_DATA"
  if [ "${PERF_SAMPLES:-0}" -lt 100 ]; then echo "perf recorded no samples" >&2; return 1; fi
}

# wait_udp PORT NAME: wait until a DNS server answers on 127.0.0.1:PORT (max 20 s)
wait_udp() {
  for _ in $(seq 1 100); do
    if dig +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "server on port $1 did not answer" >&2; return 1
}

# report LABEL QPS ANSWERED TICKS USER_SHARE SAMPLES: one result line; also appended to
# $RESULTS (when set) as "LABEL|qps|user_us|sys_us" for summaries.
report() {
  local label=$1 qps=$2 done=$3 ticks=$4 share=$5 samples=$6
  awk -v l="$label" -v d="$done" -v q="$qps" -v c="$ticks" -v f="$share" -v n="$samples" -v t="$CLK_TCK" \
    'BEGIN { tot = c / t * 1e6 / d; printf "%-26s qps=%-6.0f answered=%-7d user_us=%.3f sys_us=%.3f total_us=%.3f (perf samples %s)\n", l, q, d, tot * f, tot * (1 - f), tot, n }'
  if [ -n "${RESULTS:-}" ]; then
    awk -v l="$label" -v d="$done" -v q="$qps" -v c="$ticks" -v f="$share" -v t="$CLK_TCK" \
      'BEGIN { tot = c / t * 1e6 / d; printf "%s|%.0f|%.4f|%.4f\n", l, q, tot * f, tot * (1 - f) }' >>"$RESULTS"
  fi
}

# measure LABEL PID PORT QUERYFILE QPS SECONDS [extra dnsperf args...]
# dnsperf at a fixed offered load; prints QPS and CPU per answered query (user, system).
measure() {
  local label=$1 pid=$2 port=$3 qfile=$4 qps=$5 secs=$6; shift 6
  local out u0 s0 u1 s1 done qpsr; out=$(mktemp)
  perf_start "$pid"
  read -r u0 s0 < <(cpu_ticks "$pid")
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$qfile" -Q "$qps" -l "$secs" -c 1 -T 1 "$@" >"$out" 2>&1
  read -r u1 s1 < <(cpu_ticks "$pid")
  perf_stop
  done=$(awk '/Queries completed:/ {print $3}' "$out")
  qpsr=$(awk '/Queries per second:/ {print $4}' "$out")
  if [ -z "$done" ] || [ "$done" = 0 ]; then
    echo "$label: dnsperf answered nothing" >&2; cat "$out" >&2; rm -f "$out"; return 1
  fi
  report "$label" "$qpsr" "$done" $((u1 + s1 - u0 - s0)) "$PERF_SHARE" "$PERF_SAMPLES"
  grep -E "Queries lost|Response codes" "$out" | sed 's/^/    /'
  rm -f "$out"
}

# measure_dnsload LABEL PID PORT SUBNETFILE QPS SECONDS [extra dnsload args...]
# The project's own generator (examples/dnsload.rs): one pre-built query per ECS subnet.
measure_dnsload() {
  local label=$1 pid=$2 port=$3 subnets=$4 qps=$5 secs=$6; shift 6
  local out u0 s0 u1 s1 done qpsr; out=$(mktemp)
  perf_start "$pid"
  read -r u0 s0 < <(cpu_ticks "$pid")
  taskset -c 1 target/release/examples/dnsload load --server "127.0.0.1:$port" \
    --subnets "$subnets" --qps "$qps" --seconds "$secs" "$@" >"$out" 2>&1
  read -r u1 s1 < <(cpu_ticks "$pid")
  perf_stop
  done=$(sed -n 's/.* answered=\([0-9]*\) .*/\1/p' "$out")
  qpsr=$(sed -n 's/.* qps=\([0-9.]*\).*/\1/p' "$out")
  if [ -z "$done" ] || [ "$done" = 0 ]; then
    echo "$label: dnsload answered nothing" >&2; cat "$out" >&2; rm -f "$out"; return 1
  fi
  report "$label" "$qpsr" "$done" $((u1 + s1 - u0 - s0)) "$PERF_SHARE" "$PERF_SAMPLES"
  sed 's/^/    /' "$out"
  rm -f "$out"
}

# median_row LABEL RESULTS -> "qps user_us sys_us", each the median over the rounds of LABEL
median_row() {
  local f out=""
  for f in 2 3 4; do
    out="$out $(awk -F'|' -v l="$1" -v f=$f '$1 == l { print $f }' "$2" | sort -g |
      awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
  done
  echo $out
}

# gen_zone N FILE: the zone big.test. with N records (A, AAAA, MX, TXT and CNAME, one owner
# each) plus SOA, NS and glue; bench/zone-load.sh and bench/zone-memory.sh load it.
gen_zone() {
  awk -v n="$1" 'BEGIN {
    print "$ORIGIN big.test.\n$TTL 300"
    print "@ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 127.0.0.1"
    for (i = 0; i < n; i++) {
      k = i % 5
      if (k == 0) printf "h%d A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256
      else if (k == 1) printf "h%d AAAA 2001:db8::%x:%x\n", i, int(i / 65536), i % 65536
      else if (k == 2) printf "h%d MX 10 mail%d\n", i, i
      else if (k == 3) printf "h%d TXT \"v=spf1 ip4:10.0.0.%d -all\" \"x\"\n", i, i % 256
      else printf "h%d 60 IN CNAME h%d\n", i, i - 1
    }
  }' >"$2"
}

# rss_kib PID -> VmRSS of PID in KiB (0 when it is gone)
rss_kib() { awk '/^VmRSS/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# pss_kib PID... -> the sum of the processes' proportional set sizes in KiB
pss_kib() {
  local p s=0 v
  for p in "$@"; do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}
