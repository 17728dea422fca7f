#!/usr/bin/env bash
# Cluster at scale: NODES `meridian serve` processes on 127.0.0.1 gossiping with one shared
# key, each probing the same TARGETS TCP targets every second (listeners on 127.0.10.1.. held
# by examples/cluster_bench.rs, which then drives the measurements). Prints gossip bytes/s
# and CPU per node over a steady window, override propagation (median and range over
# OVERRIDES trials) and target flip time (over FLIPS trials) beside fall x interval.
# Goals (issue 11): propagation < 1 s median, < 2 s worst; < 5 % of one core per node.
#
#   bench/cluster.sh [NODES=10] [TARGETS=1000] [STEADY_S=30] [OVERRIDES=12] [FLIPS=6]
set -euo pipefail

NODES=${1:-10}
TARGETS=${2:-1000}
STEADY_S=${3:-30}
OVERRIDES=${4:-12}
FLIPS=${5:-6}
INTERVAL=1s
FALL=2
RISE=2
TARGET_PORT=39000
DNS_BASE=39100
ADMIN_BASE=39200
GOSSIP_BASE=39300

cd "$(dirname "$0")/.."
cargo build --release --bin meridian --example cluster_bench
BIN=$PWD/target/release/meridian
DRIVER=$PWD/target/release/examples/cluster_bench

[ "$NODES" -ge 2 ] && [ "$NODES" -le 50 ] || { echo "NODES must be 2..50" >&2; exit 1; }
[ "$TARGETS" -ge 2 ] && [ "$TARGETS" -le 10000 ] || { echo "TARGETS must be 2..10000" >&2; exit 1; }
# TARGETS listeners in the driver, NODES x in-flight probes: raise the soft limit.
ulimit -n "$(ulimit -Hn)"

DIR=${BENCH_DIR:-$(mktemp -d)}
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${BENCH_DIR:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

target() { echo "127.0.$((10 + $1 / 250)).$((1 + $1 % 250))"; }

mkdir -p "$DIR/zones"
cat >"$DIR/zones/bench.test.zone" <<'EOF'
$ORIGIN bench.test.
$TTL 300
@   IN SOA ns1 hostmaster 1 7200 3600 1209600 300
    IN NS  ns1
ns1 IN A   127.0.0.53
EOF
"$BIN" cluster keygen "$DIR/cluster.key" >/dev/null
chmod 600 "$DIR/cluster.key"

# The policy every node loads: `flip` = site f1 (target 0) then f2 (target 1), failover; the
# other targets spread over sites b0..b9 of the service `bulk`. One TCP check for all.
CHECK="{ type = \"tcp\", port = $TARGET_PORT, interval = \"$INTERVAL\", timeout = \"500ms\", rise = $RISE, fall = $FALL }"
POLICY=$DIR/policy.toml
{
  echo "[site.f1]"; echo "links = { default = [\"$(target 0)\"] }"
  echo "[site.f2]"; echo "links = { default = [\"$(target 1)\"] }"
  BULK_SITES=()
  for s in $(seq 0 9); do
    addrs=()
    for j in $(seq 2 $((TARGETS - 1))); do
      [ $((j % 10)) -eq "$s" ] && addrs+=("\"$(target "$j")\"")
    done
    [ ${#addrs[@]} -eq 0 ] && continue
    BULK_SITES+=("\"b$s\"")
    echo "[site.b$s]"; echo "links = { default = [$(IFS=,; echo "${addrs[*]}")] }"
  done
  echo "[service.flip]"; echo "name = \"flip.bench.test\""; echo "sites = [\"f1\", \"f2\"]"
  echo "mode = \"failover\""; echo "ttl = 5"; echo "check = $CHECK"
  if [ ${#BULK_SITES[@]} -gt 0 ]; then
    echo "[service.bulk]"; echo "name = \"bulk.bench.test\""
    echo "sites = [$(IFS=,; echo "${BULK_SITES[*]}")]"
    echo "mode = \"all\""; echo "ttl = 5"; echo "check = $CHECK"
  fi
} >"$POLICY"

for i in $(seq 0 $((NODES - 1))); do
  seeds="\"127.0.0.1:$GOSSIP_BASE\""
  [ "$i" -eq 0 ] && seeds="\"127.0.0.1:$((GOSSIP_BASE + 1))\""
  cat >"$DIR/node$i.toml" <<EOF
[server]
listen = ["127.0.0.1:$((DNS_BASE + i))"]
zones = "zones"
admin = "127.0.0.1:$((ADMIN_BASE + i))"
admin_token_file = "node$i.token"
udp_threads = 1
[health]
state_file = "node$i.state.json"
$(cat "$POLICY")
[cluster]
node = "node$i"
listen = "127.0.0.1:$((GOSSIP_BASE + i))"
seeds = [$seeds]
key_file = "cluster.key"
vantage = { quorum = "majority", stale_after = "15s" }
EOF
done
"$BIN" check --config "$DIR/node0.toml" >/dev/null

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) before the run"
for i in $(seq 0 $((NODES - 1))); do
  RUST_LOG=warn "$BIN" serve --config "$DIR/node$i.toml" >"$DIR/node$i.log" 2>&1 &
  PIDS+=($!)
done
sleep 1
for i in "${!PIDS[@]}"; do
  kill -0 "${PIDS[$i]}" 2>/dev/null || { tail -20 "$DIR/node$i.log"; echo "node$i exited" >&2; exit 1; }
done

echo "$NODES nodes x $TARGETS targets, probes every $INTERVAL (fall $FALL x interval $INTERVAL = fall time $((FALL))s), gossip every 250ms"
if ! timeout $((STEADY_S + 60 * OVERRIDES / 10 + 60 * FLIPS + 300)) "$DRIVER" \
    --nodes "$NODES" --targets "$TARGETS" --target-port "$TARGET_PORT" \
    --dns-base "$DNS_BASE" --admin-base "$ADMIN_BASE" --dir "$DIR" \
    --pids "$(IFS=,; echo "${PIDS[*]}")" --steady "$STEADY_S" \
    --overrides "$OVERRIDES" --flips "$FLIPS"; then
  for i in $(seq 0 $((NODES - 1))); do echo "--- node$i"; tail -5 "$DIR/node$i.log"; done >&2
  echo "cluster_bench failed" >&2
  exit 1
fi
echo "machine load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
