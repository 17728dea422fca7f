# Shared helpers for the guest-side scenarios (sourced by run.sh inside the VM).
M=/host/meridian
IP=/usr/sbin/ip            # iproute2 by full path: busybox ash prefers its own `ip` applet
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "=== $* (uptime $(cut -d' ' -f1 /proc/uptime))"; }
# ipvsadm -Ln as sorted "service | real" lines with single spaces: order-free comparison.
norm() {
  awk '/^(TCP|UDP|SCTP|FWM) /{svc=$0; print svc; next}
       /->/ && svc != "" {print svc " |" $0}' | tr -s ' ' | sed 's/ *$//' | LC_ALL=C sort
}
# expect_table FILE: the kernel table (ipvsadm -Ln) equals FILE (in norm form, any order)
expect_table() {
  ipvsadm -Ln | norm > /tmp/got.txt
  LC_ALL=C sort "$1" | tr -s ' ' | sed 's/ *$//' > /tmp/want.txt
  if ! diff -u /tmp/want.txt /tmp/got.txt; then fail "kernel table differs from $1"; fi
}
# expect_ops FILE OPS...: FILE holds exactly these operations (any order)
expect_ops() {
  f=$1; shift
  : > /tmp/want-ops.txt
  for o in "$@"; do echo "$o" >> /tmp/want-ops.txt; done
  LC_ALL=C sort /tmp/want-ops.txt > /tmp/a; LC_ALL=C sort "$f" > /tmp/b
  if ! diff -u /tmp/a /tmp/b; then fail "operations differ from the expected ones"; fi
}
# expect_weights FILE: like expect_table, ignoring the connection counters of real servers
expect_weights() {
  ipvsadm -Ln | norm | sed -E '/->/s/ [0-9]+ [0-9]+$//' > /tmp/got.txt
  LC_ALL=C sort "$1" | tr -s ' ' | sed 's/ *$//' > /tmp/want.txt
  if ! diff -u /tmp/want.txt /tmp/got.txt; then fail "kernel table differs from $1"; fi
}
# attach NS ADDR: a veth from network namespace NS to the bridge br0 of the root namespace
# (a switch), with ADDR/24 on eth0 inside NS
attach() {
  $IP link add "b-$1" type veth peer name "e-$1"
  $IP link set "e-$1" netns "$1"
  $IP -n "$1" link set "e-$1" name eth0
  $IP link set "b-$1" master br0; $IP link set "b-$1" up
  $IP -n "$1" addr add "$2/24" dev eth0; $IP -n "$1" link set eth0 up; $IP -n "$1" link set lo up
}
