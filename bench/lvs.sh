#!/usr/bin/env bash
# IPVS director benchmark (a script, not a test), inside the QEMU VM of tests/vm/:
#   1. full apply of 1 000 services x 10 real servers into an empty table (`meridian lvs apply`),
#      and for scale `ipvsadm -R` restoring the same table in a fresh network namespace;
#   2. one weight change: through `lvs apply` (full dump + diff + 1 SET_DEST), and through the
#      running director (`lvs run`, SIGHUP reload: cached diff + 1 SET_DEST, no dump).
# Prints the times. Targets: full apply < 1 s, one weight change < 5 ms. Under TCG (no KVM)
# the kernel side alone is 1-2 orders of magnitude slower than native: read the ratio to
# ipvsadm -R as well as the absolute figures.
#
#   bench/lvs.sh            (builds the release binary; env N_SERVICES, N_REALS to resize)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=${N_SERVICES:-1000}
NR=${N_REALS:-10}
cd "$ROOT"
cargo build --release --quiet --bin meridian
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VM=$(tests/vm/build.sh "$TARGET/ipvs-vm")
S=$TARGET/ipvs-vm/share-bench
rm -rf "$S"; mkdir -p "$S/lib"
cp "$TARGET/release/meridian" "$S/meridian"
for l in $(ldd "$S/meridian" | grep -o '/[^ ]*'); do cp -L "$l" "$S/lib/"; done

# the config, the same config with one weight changed, and the same table as ipvsadm rules
cat > "$S/gen.awk" <<'AWK'
BEGIN {
  print "[lvs]\nresync = \"600s\""
  for (i = 0; i < ns; i++) {
    vip = sprintf("10.50.%d.%d", int(i / 250), i % 250 + 1)
    printf "\n[[lvs.service]]\nvip = \"%s:80\"\nscheduler = \"wrr\"\nforward = \"nat\"\n", vip
    for (j = 0; j < nr; j++) {
      w = (bump && i == int(ns / 2) && j == 0) ? 7 : 1
      printf "[[lvs.service.real]]\naddr = \"10.60.%d.%d:%d\"\nweight = %d\n", int(i / 250), i % 250 + 1, 8000 + j, w
    }
  }
}
AWK
awk -v ns="$NS" -v nr="$NR" -v bump=0 -f "$S/gen.awk" > "$S/big.toml"
awk -v ns="$NS" -v nr="$NR" -v bump=1 -f "$S/gen.awk" > "$S/big2.toml"
[[ $(diff "$S/big.toml" "$S/big2.toml" | grep -c '^>') == 1 ]] || { echo "bench: bad one-weight config" >&2; exit 1; }
awk -v ns="$NS" -v nr="$NR" 'BEGIN {
  for (i = 0; i < ns; i++) {
    vip = sprintf("10.50.%d.%d:80", int(i / 250), i % 250 + 1)
    printf "-A -t %s -s wrr\n", vip
    for (j = 0; j < nr; j++) printf "-a -t %s -r 10.60.%d.%d:%d -m -w 1\n", vip, int(i / 250), i % 250 + 1, 8000 + j
  }
}' > "$S/big.rules"

cat > "$S/run.sh" <<'EOF2'
export LD_LIBRARY_PATH=/host/lib
M=/host/meridian
up() { cut -d' ' -f1 /proc/uptime; }
echo "== ipvsadm -R, fresh netns"
t0=$(up); unshare -n sh -c '/usr/sbin/ip link set lo up && /usr/sbin/ip route add 10.0.0.0/8 dev lo && ipvsadm -R < /host/big.rules && echo "BENCH restored_dests $(ipvsadm -Ln | grep -c -- "->")"'; t1=$(up)
echo "BENCH ipvsadm_restore_s $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}')"
echo "== meridian lvs apply, empty table"
$M lvs apply --config /host/big.toml > /tmp/ops1 2> /tmp/err1 || { cat /tmp/err1; exit 1; }
cat /tmp/err1; echo "BENCH full_apply_ops $(wc -l < /tmp/ops1)"
echo "== meridian lvs apply again (converged: dump + diff only)"
$M lvs apply --config /host/big.toml > /tmp/ops2 2> /tmp/err2; cat /tmp/err2
echo "BENCH noop_apply_ops $(wc -l < /tmp/ops2)"
echo "== one weight change through lvs apply"
$M lvs apply --config /host/big2.toml > /tmp/ops3 2> /tmp/err3; cat /tmp/ops3 /tmp/err3
echo "== one weight change through the running director (SIGHUP, cached)"
cp /host/big.toml /tmp/cfg.toml
$M --log-format json lvs run --config /tmp/cfg.toml > /tmp/run.log 2>&1 &
P=$!
# wait for the start-up pass (it applies big.toml back over big2's weight)
n=0; until grep -q '"ipvs reconciled"' /tmp/run.log || [ $n -ge 600 ]; do sleep 0.5; n=$((n+1)); done
cp /host/big2.toml /tmp/cfg.toml
kill -HUP $P
n=0; until [ "$(grep -c '"ipvs reconciled"' /tmp/run.log)" -ge 2 ] || [ $n -ge 600 ]; do sleep 0.5; n=$((n+1)); done
kill $P; wait $P
cat /tmp/run.log
ipvsadm -Ln | grep -c -- '->' | sed 's/^/BENCH dests_in_kernel /'
EOF2
echo "booting the VM ($NS services x $NR real servers)..." >&2
VM_TIMEOUT=1800 tests/vm/boot.sh "$VM" "$S" | tee "$S/bench.log"
echo
accel=tcg
if [[ -r /dev/kvm && -w /dev/kvm && ! -d /sys/module/kvm_pvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; fi
echo "---- results: $NS services x $NR real servers, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), $accel"
grep '^BENCH ipvsadm' "$S/bench.log" | awk '{printf "ipvsadm -R (reference)             %8.0f ms\n", $3 * 1000}'
grep 'lvs apply:' "$S/bench.log" | sed -n 1p | sed -E 's/.* in ([0-9.]+) ms \(dump ([0-9.]+) ms, operations ([0-9.]+) ms\).*/full apply from empty (lvs apply)   \1 ms (dump \2 ms, netlink operations \3 ms)/'
grep 'lvs apply:' "$S/bench.log" | sed -n 2p | sed -E 's/.* in ([0-9.]+) ms \(dump ([0-9.]+) ms, operations ([0-9.]+) ms\).*/converged re-apply (dump + diff)   \1 ms (dump \2 ms, netlink operations \3 ms)/'
grep 'lvs apply:' "$S/bench.log" | sed -n 3p | sed -E 's/.* in ([0-9.]+) ms \(dump ([0-9.]+) ms, operations ([0-9.]+) ms\).*/one weight, lvs apply (with dump) \1 ms (dump \2 ms, netlink operations \3 ms)/'
grep '"ipvs reconciled"' "$S/bench.log" | sed -n 2p | tr -d '\r' | sed -E 's/.*"ops":([0-9]+).*"elapsed_us":([0-9]+).*"dump_us":([0-9]+).*"kernel_us":([0-9]+).*/one weight, running director      \2 us (ops \1, dump \3 us, netlink operation \4 us)/'
