# Shared helpers for Meridian's benchmark scripts (sourced, not run).
# Method (see docs/performance.md): a fixed offered load from one load generator pinned to
# CPU 1, the server pinned to CPU 0 with one serving thread, and the server's user and system
# CPU read from /proc/PID/stat (all threads, and child processes) before and after; the
# figure that matters is CPU per answered query, above all its user part.

CLK_TCK=$(getconf CLK_TCK)

# need TOOL... : fail loudly when a tool is missing
need() {
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "missing tool: $t (Debian: apt-get install dnsperf nsd gdnsd util-linux dnsutils)" >&2; exit 1; }
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

# wait_udp PORT NAME: wait until a DNS server answers on 127.0.0.1:PORT (max 20 s)
wait_udp() {
  for _ in $(seq 1 100); do
    if dig +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "server on port $1 did not answer" >&2; return 1
}

# report LABEL QPS ANSWERED DUTICKS DSTICKS: one result line; also appended to $RESULTS
# (when set) as "LABEL|qps|user_us|sys_us" for summaries.
report() {
  local label=$1 qps=$2 done=$3 du=$4 ds=$5
  awk -v l="$label" -v d="$done" -v q="$qps" -v u="$du" -v s="$ds" -v t="$CLK_TCK" \
    'BEGIN { printf "%-34s qps=%-7.0f answered=%-8d user_us=%.3f sys_us=%.3f total_us=%.3f\n", l, q, d, u/t*1e6/d, s/t*1e6/d, (u+s)/t*1e6/d }'
  if [ -n "${RESULTS:-}" ]; then
    awk -v l="$label" -v d="$done" -v q="$qps" -v u="$du" -v s="$ds" -v t="$CLK_TCK" \
      'BEGIN { printf "%s|%.0f|%.3f|%.3f\n", l, q, u/t*1e6/d, s/t*1e6/d }' >>"$RESULTS"
  fi
}

# measure LABEL PID PORT QUERYFILE QPS SECONDS [extra dnsperf args...]
# dnsperf at a fixed offered load; prints QPS and CPU per answered query (user, system).
measure() {
  local label=$1 pid=$2 port=$3 qfile=$4 qps=$5 secs=$6; shift 6
  local out u0 s0 u1 s1 done qpsr; out=$(mktemp)
  read -r u0 s0 < <(cpu_ticks "$pid")
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$qfile" -Q "$qps" -l "$secs" -c 1 -T 1 "$@" >"$out" 2>&1
  read -r u1 s1 < <(cpu_ticks "$pid")
  done=$(awk '/Queries completed:/ {print $3}' "$out")
  qpsr=$(awk '/Queries per second:/ {print $4}' "$out")
  if [ -z "$done" ] || [ "$done" = 0 ]; then
    echo "$label: dnsperf answered nothing" >&2; cat "$out" >&2; rm -f "$out"; return 1
  fi
  report "$label" "$qpsr" "$done" $((u1 - u0)) $((s1 - s0))
  grep -E "Queries lost|Response codes" "$out" | sed 's/^/    /'
  rm -f "$out"
}

# measure_dnsload LABEL PID PORT SUBNETFILE QPS SECONDS [extra dnsload args...]
# The project's own generator (examples/dnsload.rs): one pre-built query per ECS subnet.
measure_dnsload() {
  local label=$1 pid=$2 port=$3 subnets=$4 qps=$5 secs=$6; shift 6
  local out u0 s0 u1 s1 done qpsr; out=$(mktemp)
  read -r u0 s0 < <(cpu_ticks "$pid")
  taskset -c 1 target/release/examples/dnsload load --server "127.0.0.1:$port" \
    --subnets "$subnets" --qps "$qps" --seconds "$secs" "$@" >"$out" 2>&1
  read -r u1 s1 < <(cpu_ticks "$pid")
  done=$(sed -n 's/.* answered=\([0-9]*\) .*/\1/p' "$out")
  qpsr=$(sed -n 's/.* qps=\([0-9.]*\).*/\1/p' "$out")
  if [ -z "$done" ] || [ "$done" = 0 ]; then
    echo "$label: dnsload answered nothing" >&2; cat "$out" >&2; rm -f "$out"; return 1
  fi
  report "$label" "$qpsr" "$done" $((u1 - u0)) $((s1 - s0))
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
