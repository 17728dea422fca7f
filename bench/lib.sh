# Shared helpers for Meridian's benchmark scripts (sourced, not run).
# Method (see docs/performance.md): a fixed offered load from dnsperf pinned to CPU 1, the
# server pinned to CPU 0, and the server's user and system CPU read from /proc/PID/stat
# before and after; the figure that matters is CPU per answered query, above all its user part.

CLK_TCK=$(getconf CLK_TCK)

# tree PID -> PID and all its descendants (NSD forks its server processes)
tree() { echo "$1"; for c in $(pgrep -P "$1" || true); do tree "$c"; done; }

# cpu_ticks PID -> "utime stime" (clock ticks, all threads of PID and its descendants)
cpu_ticks() {
  local u=0 s=0 p a b
  for p in $(tree "$1"); do
    read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo "0 0")
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

# measure LABEL PID PORT QUERYFILE QPS SECONDS [extra dnsperf args...]
# prints: LABEL qps=... answered=... user_us=... sys_us=... (per answered query)
measure() {
  local label=$1 pid=$2 port=$3 qfile=$4 qps=$5 secs=$6; shift 6
  local out; out=$(mktemp)
  read -r u0 s0 < <(cpu_ticks "$pid")
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$qfile" -Q "$qps" -l "$secs" -c 1 -T 1 "$@" >"$out" 2>&1
  read -r u1 s1 < <(cpu_ticks "$pid")
  local done qpsr
  done=$(awk '/Queries completed:/ {print $3}' "$out")
  qpsr=$(awk '/Queries per second:/ {print $4}' "$out")
  if [ -z "$done" ] || [ "$done" = 0 ]; then
    echo "$label: dnsperf answered nothing" >&2; cat "$out" >&2; rm -f "$out"; return 1
  fi
  awk -v l="$label" -v d="$done" -v q="$qpsr" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v t="$CLK_TCK" \
    'BEGIN { printf "%-28s qps=%-9.0f answered=%-8d user_us=%.3f sys_us=%.3f total_us=%.3f\n", l, q, d, u/t*1e6/d, s/t*1e6/d, (u+s)/t*1e6/d }'
  grep -E "Queries lost|Response codes" "$out" | sed 's/^/    /'
  rm -f "$out"
}
