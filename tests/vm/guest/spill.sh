# Capacity-aware spill: a VIP at its `spill_at` share of `capacity` (active connections, from
# the kernel's counters) takes no new DNS clients while the other site can; with the other
# site down it is answered anyway (over capacity); below `spill_resume` it takes clients again.
# Both the director's own DNS and a DNS-only node (told over gossip) move.
#   cl (10.0.0.2) -- d0 (10.0.0.1, VIP 10.0.0.100) [root ns: meridian serve with [lvs]]
#     -- r1 (10.1.1.1) -- rs1 (10.1.1.2: an echo server on :80 that holds connections)
#   dnsn (10.9.0.2) -- n0 (10.9.0.1) [a DNS-only node, gossip with the director]
# The director re-reads a spill service's counters every second: a change shows in DNS within
# 1 s + one pass + one gossip round; the limit below is 3 s.
LIMIT_CS=300
VIP=10.0.0.100
DR=192.0.2.20

step "topology"
mkdir -p /tmp/bin; cp $M /tmp/bin/meridian; cp -r /host/lib /tmp/lib
M=/tmp/bin/meridian; export LD_LIBRARY_PATH=/tmp/lib
$IP netns add cl
$IP link add d0 type veth peer name c0
$IP link set c0 netns cl
$IP addr add 10.0.0.1/24 dev d0; $IP addr add $VIP/32 dev d0; $IP link set d0 up
$IP -n cl addr add 10.0.0.2/24 dev c0
$IP -n cl link set c0 up; $IP -n cl link set lo up
$IP -n cl route add default via 10.0.0.1
$IP netns add rs1
$IP link add r1 type veth peer name s1
$IP link set s1 netns rs1
$IP addr add 10.1.1.1/24 dev r1; $IP link set r1 up
$IP -n rs1 addr add 10.1.1.2/24 dev s1
$IP -n rs1 link set s1 up; $IP -n rs1 link set lo up
$IP -n rs1 route add default via 10.1.1.1
sysctl -qw net.ipv4.ip_forward=1
$IP netns exec rs1 nc -ll -p 80 -e cat &
$IP netns add dnsn
$IP link add n0 type veth peer name n1
$IP link set n1 netns dnsn
$IP addr add 10.9.0.1/24 dev n0; $IP link set n0 up
$IP -n dnsn addr add 10.9.0.2/24 dev n1
$IP -n dnsn link set n1 up; $IP -n dnsn link set lo up
$M cluster keygen /tmp/cluster.key > /dev/null || fail "cluster keygen"

now_cs() { awk '{printf "%d", $1 * 100}' /proc/uptime; }
T0=0
mark() { T0=$(now_cs); }
within() {
  lim=$1; what=$2; shift 2
  while ! "$@" > /dev/null 2>&1; do
    if [ $(($(now_cs) - T0)) -gt "$lim" ]; then
      ipvsadm -Ln; tail -20 /tmp/serve.log | cut -c1-400
      fail "$what: not within $lim cs"
    fi
    sleep 0.1
  done
  el=$(($(now_cs) - T0))
  echo "TIMING $what: $((el / 100)).$((el / 10 % 10))$((el % 10)) s"
}
answer() { nslookup -type=a www.example.test "$1" 2>&1 | awk '/^Name:/{n = 1} n && /^Address:/{print $2}'; }
dns_is() { [ "$(answer 127.0.0.1)" = "$1" ]; }
node_is() { [ "$($IP netns exec dnsn nslookup -type=a www.example.test 10.9.0.2 2>&1 | awk '/^Name:/{n = 1} n && /^Address:/{print $2}')" = "$1" ]; }
both_are() { dns_is "$1" && node_is "$1"; }
active() { ipvsadm -Ln | awk '$1 == "->" && $2 == "10.1.1.2:80" {print $5}'; }
active_is() { [ "$(active)" = "$1" ]; }
# explain_says REASON ADDR: `meridian explain` (live health) gives ADDR for REASON
explain_says() {
  $M explain --config spill.toml --client 192.0.2.1 www.example.test --json > /tmp/explain.json || return 1
  tr -d ' \n' < /tmp/explain.json > /tmp/explain.flat
  grep -q "\"ttl_reason\":\"$1\"" /tmp/explain.flat && grep -q "\"answer\":\[\"$2\"\]" /tmp/explain.flat
}
status_full() { wget -q -O - http://127.0.0.1:8053/status | tr -d ' \n' | grep -q "\"full\":$1"; }
HOLD=""
hold() { # one connection through the VIP, held open by a sleeping writer
  (sleep 60) | $IP netns exec cl nc $VIP 80 > /dev/null &
  HOLD="$HOLD $!"
}

step "meridian serve with [lvs] and a DNS node"
trap '[ $? = 0 ] || { echo "--- serve log (tail)"; tail -30 /tmp/serve.log | cut -c1-400; echo "--- DNS node log (tail)"; tail -10 /tmp/dns-node.log | cut -c1-400; }' EXIT
$M --log-format json serve --config spill.toml > /tmp/serve.log 2>&1 &
SERVE=$!
$IP netns exec dnsn $M --log-format json serve --config dns-node.toml > /tmp/dns-node.log 2>&1 &
mark
within 1500 "both nodes answer the VIP" both_are $VIP
status_full false || fail "/status does not say the VIP is not full"

step "one connection (50 % of capacity): still answered"
hold
mark
within $LIMIT_CS "one active connection" active_is 1
sleep 2
both_are $VIP || fail "the VIP left the answers at 50 % of capacity"

step "two connections (100 %): full, both nodes answer dr"
hold
mark
within $LIMIT_CS "DNS spills to dr" dns_is $DR
within $LIMIT_CS "the DNS node spills to dr" node_is $DR
status_full true || fail "/status does not say full"
explain_says failover $DR || { cat /tmp/explain.json; fail "explain does not say failover to dr"; }
grep -q '"status":"full"' /tmp/explain.flat || { cat /tmp/explain.json; fail "explain does not show the VIP full"; }
[ "$(active)" = 2 ] || { ipvsadm -Ln; fail "the held connections were cut"; }

step "dr down too: the full VIP is answered, over capacity"
$M override set site:dr down --config spill.toml > /tmp/ovr.out 2>&1 || { cat /tmp/ovr.out; fail "override"; }
mark
within $LIMIT_CS "over capacity: the VIP again" dns_is $VIP
explain_says over_capacity $VIP || { cat /tmp/explain.json; fail "explain does not say over_capacity"; }
$M override clear site:dr --config spill.toml > /tmp/ovr.out 2>&1 || { cat /tmp/ovr.out; fail "override clear"; }
mark
within $LIMIT_CS "dr back: dr again" dns_is $DR

step "one connection ends (50 %, not below spill_resume): still full"
set -- $HOLD
kill $1
mark
within $LIMIT_CS "one active connection left" active_is 1
sleep 2
dns_is $DR || fail "the VIP came back at 50 %: no hysteresis"

step "the other ends (0 %): both nodes answer the VIP again"
kill $2
mark
within $LIMIT_CS "DNS takes the VIP back" dns_is $VIP
within $LIMIT_CS "the DNS node takes the VIP back" node_is $VIP
status_full false || fail "/status still says full"
echo "PASS spill"
