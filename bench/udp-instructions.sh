#!/usr/bin/env bash
# Instructions per UDP query on the service path, counted by callgrind: repeatable on a shared
# machine where wall-clock CPU figures are not. One UDP thread serves a geo-steered service
# (the config of tests/service_path.rs); a client sends queries one at a time (each its own
# batch), 3 in 4 to the service name with ECS, 1 in 4 to a static name. Only instructions
# inside meridian::dns::udp::serve are counted; two runs (N1 and N2 queries) cancel the fixed
# cost: per query = (Ir(N2) - Ir(N1)) / (N2 - N1).
# Usage: [MERIDIAN_BIN=path] [ROUNDS=2] bench/udp-instructions.sh [N1] [N2]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need valgrind callgrind_annotate python3 dig
MBIN=$(realpath "${MERIDIAN_BIN:-target/release/meridian}")
N1=${1:-2000}; N2=${2:-10000}; ROUNDS=${ROUNDS:-2}; PORT=35353
W=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"' EXIT
python3 - "$W" "$PORT" <<'PY'
import re, sys
w, port = sys.argv[1], sys.argv[2]
src = open('tests/service_path.rs').read()
grab = lambda pat: re.search(pat, src, re.S).group(1)
open(f'{w}/example.test.zone', 'w').write(grab(r'const ZONE: &str = "(.*?)";'))
open(f'{w}/city.csv', 'w').write(grab(r'const CITY: &str = "(.*?)";'))
cfg = grab(r'const CONFIG: &str = r#"(.*?)"#;').replace(
    'listen = ["127.0.0.1:0"]', f'listen = ["127.0.0.1:{port}"]\nudp_threads = 1\nrrl = {{ rate = 0 }}')
open(f'{w}/meridian.toml', 'w').write(cfg)
PY
cat > "$W/q.py" <<'PY'
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
def name(s):
    return b''.join(bytes([len(p)]) + p.encode() for p in s.split('.')) + b'\0'
def q(i, qname, ecs):
    h = struct.pack('>HHHHHH', i & 0xffff, 0x0100, 1, 0, 0, 1)
    opt = b''
    if ecs:
        o = struct.pack('>HBB', 1, 24, 0) + bytes([20, i % 3, (i >> 2) & 0xff])
        opt = struct.pack('>HH', 8, len(o)) + o
    return h + name(qname) + struct.pack('>HH', 1, 1) + b'\0' + struct.pack('>HHIH', 41, 1232, 0, len(opt)) + opt
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(n):
    s.sendto(q(i, 'www.example.test' if i % 4 else 'ns1.example.test', i % 4 != 0), ('127.0.0.1', port))
    s.recv(4096)
PY
# ir N -> instructions inside the UDP serving loop for N queries (plus one readiness query)
ir() {
  local out="$W/cg.out"
  (cd "$W" && valgrind --tool=callgrind --callgrind-out-file="$out" \
      --toggle-collect='meridian::dns::udp::serve' "$MBIN" serve --config meridian.toml \
      >/dev/null 2>&1) &
  local vp=$!
  for _ in $(seq 1 100); do
    dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 ns1.example.test >/dev/null 2>&1 && break
    sleep 0.3
  done
  python3 "$W/q.py" "$PORT" "$1"
  kill -TERM "$(pgrep -P "$vp" || echo "$vp")" 2>/dev/null || true; wait "$vp" 2>/dev/null || true
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
}
printf '%-6s %14s %14s %10s\n' round "Ir(N1=$N1)" "Ir(N2=$N2)" per_query
for r in $(seq 1 "$ROUNDS"); do
  a=$(ir "$N1"); b=$(ir "$N2")
  printf '%-6s %14s %14s %10s\n' "$r" "$a" "$b" $(( (b - a) / (N2 - N1) ))
done
