# `meridian serve` with [lvs]: the in-process director fed by the health prober, and the VIP's
# quorum fed into DNS answers. Real servers' httpd is stopped and restarted inside their network
# namespaces; ipvsadm -Ln is the oracle for the table, Meridian's own DNS (busybox nslookup on
# 127.0.0.1:53) and `meridian explain` (live admin endpoint) for the answers.
#   cl (10.0.0.2) -- d0 (10.0.0.1, VIP 10.0.0.100) [root ns, meridian serve]
#     -- r$i (10.1.$i.1) -- rs$i (10.1.$i.2: httpd :80 with /healthz, echo :8080), i = 1 2 3
#     -- r9 (10.1.9.1) -- sorry (10.1.9.2: httpd :80)
#   dnsn (10.9.0.2) -- n0 (10.9.0.1) [a DNS-only node, gossip with the director: [cluster]]
# Checks every 500 ms, timeout 500 ms, rise 2, fall 2: a change must show within
# 2 x 500 ms + 500 ms + 1 s = 2.5 s (+ one gossip round, 250 ms, on the DNS node).
LIMIT_CS=250
VIP=10.0.0.100
DR=192.0.2.20

step "topology"
# The binary and its libraries on tmpfs: no code paged in over 9p while the first probes run
# (the first seconds of a busy emulated VM are slow enough to time probes out).
mkdir -p /tmp/bin; cp $M /tmp/bin/meridian; cp -r /host/lib /tmp/lib
M=/tmp/bin/meridian; export LD_LIBRARY_PATH=/tmp/lib
$IP netns add cl
$IP link add d0 type veth peer name c0
$IP link set c0 netns cl
$IP addr add 10.0.0.1/24 dev d0; $IP addr add $VIP/32 dev d0; $IP link set d0 up
$IP -n cl addr add 10.0.0.2/24 dev c0
$IP -n cl link set c0 up; $IP -n cl link set lo up
$IP -n cl route add default via 10.0.0.1
for i in 1 2 3 9; do
  ns=rs$i; [ $i = 9 ] && ns=sorry
  $IP netns add $ns
  $IP link add r$i type veth peer name s$i
  $IP link set s$i netns $ns
  $IP addr add 10.1.$i.1/24 dev r$i; $IP link set r$i up
  $IP -n $ns addr add 10.1.$i.2/24 dev s$i
  $IP -n $ns link set s$i up; $IP -n $ns link set lo up
  $IP -n $ns route add default via 10.1.$i.1
  mkdir -p /tmp/www$i; echo "$ns" > /tmp/www$i/index.html; echo ok > /tmp/www$i/healthz
done
sysctl -qw net.ipv4.ip_forward=1
HTTPD_1=; HTTPD_2=; HTTPD_3=
start_httpd() { # start_httpd I: httpd in the foreground of rs$I (`ip netns exec` execs it: $! is httpd)
  $IP netns exec rs$1 httpd -f -p 80 -h /tmp/www$1 &
  eval HTTPD_$1=$!
}
stop_httpd() { eval kill \$HTTPD_$1; eval wait \$HTTPD_$1 2>/dev/null; }
for i in 1 2 3; do
  start_httpd $i
  $IP netns exec rs$i nc -ll -p 8080 -e cat &
done
$IP netns exec sorry httpd -p 80 -h /tmp/www9

now_cs() { awk '{printf "%d", $1 * 100}' /proc/uptime; }
T0=0
mark() { T0=$(now_cs); }
# within CS WHAT CMD...: CMD succeeds within CS centiseconds of the last `mark` (polled
# every 100 ms); prints the time it took
within() {
  lim=$1; what=$2; shift 2
  while ! "$@" > /dev/null 2>&1; do
    if [ $(($(now_cs) - T0)) -gt "$lim" ]; then
      ipvsadm -Ln; tail -20 /tmp/serve.log
      fail "$what: not within $lim cs"
    fi
    sleep 0.1
  done
  el=$(($(now_cs) - T0))
  echo "TIMING $what: $((el / 100)).$((el / 10 % 10))$((el % 10)) s"
}
# weight SERVICE REAL: the real server's weight in ipvsadm -Ln, or "absent"
weight() {
  ipvsadm -Ln | awk -v s="$1" -v r="$2" '/^(TCP|UDP|SCTP|FWM) /{cur = $2}
    $1 == "->" && cur == s && $2 == r {print $4; f = 1} END {if (!f) print "absent"}'
}
weight_is() { [ "$(weight "$1" "$2")" = "$3" ]; }
# dns_is ADDR: Meridian answers www.example.test A with exactly ADDR
dns_a() { nslookup -type=a www.example.test 127.0.0.1 2>&1 | awk '/^Name:/{n = 1} n && /^Address:/{print $2}'; }
dns_is() { [ "$(dns_a)" = "$1" ]; }
# explain_is ADDR: `meridian explain`, with live health from the admin endpoint, says ADDR
explain_is() {
  $M explain --config serve.toml --client 192.0.2.1 www.example.test --json > /tmp/explain.json || return 1
  grep -q '"health_source": "live' /tmp/explain.json || return 1
  tr -d ' \n' < /tmp/explain.json | grep -q "\"answer\":\[\"$1\"\]"
}
# table_is FILE: like expect_weights, without failing
table_is() {
  ipvsadm -Ln | norm | sed -E '/->/s/ [0-9]+ [0-9]+$//' > /tmp/got.txt
  LC_ALL=C sort "$1" | tr -s ' ' | sed 's/ *$//' | diff -q - /tmp/got.txt
}
fetch() { $IP netns exec cl timeout 5 wget -q -O - http://$VIP/; }

step "the DNS node's namespace and the shared cluster key"
$IP netns add dnsn
$IP link add n0 type veth peer name n1
$IP link set n1 netns dnsn
$IP addr add 10.9.0.1/24 dev n0; $IP link set n0 up
$IP -n dnsn addr add 10.9.0.2/24 dev n1
$IP -n dnsn link set n1 up; $IP -n dnsn link set lo up
$M cluster keygen /tmp/cluster.key > /dev/null || fail "cluster keygen"
# dns_node_is ADDR: the DNS node answers www.example.test A with exactly ADDR
dns_node_is() {
  [ "$($IP netns exec dnsn nslookup -type=a www.example.test 10.9.0.2 2>&1 | awk '/^Name:/{n = 1} n && /^Address:/{print $2}')" = "$1" ]
}

step "meridian serve with [lvs]"
trap '[ $? = 0 ] || { echo "--- meridian serve log (tail)"; tail -40 /tmp/serve.log | cut -c1-400; echo "--- DNS node log (tail)"; tail -20 /tmp/dns-node.log 2>/dev/null | cut -c1-400; }' EXIT
$M --log-format json serve --config serve.toml > /tmp/serve.log 2>&1 &
SERVE=$!
$IP netns exec dnsn $M --log-format json serve --config dns-node.toml > /tmp/dns-node.log 2>&1 &
DNSNODE=$!
mark
within 1000 "table complete" weight_is $VIP:8080 10.1.3.2:8080 5
within 1000 "DNS up" dns_is $VIP
within 1000 "the DNS node up" dns_node_is $VIP
expect_weights serve.expected
dns_is $VIP || fail "www is not answered with the VIP"
explain_is $VIP || { cat /tmp/explain.json; fail "explain does not give the VIP"; }
# a few probe rounds later nothing has changed: only the start-up adds were made
sleep 1.5
expect_weights serve.expected
grep '"ipvs change"' /tmp/serve.log | grep -qvE -- '"-[Aa] ' && { cat /tmp/serve.log; fail "healthy real servers were edited"; }
got="$(fetch) $(fetch) $(fetch)"
echo "client got: $got"
echo "$got" | grep -q 'rs[123]' || fail "no traffic through the VIP"

step "a live connection through VIP:8080 (weight0 service)"
mkfifo /tmp/cin
$IP netns exec cl nc $VIP 8080 < /tmp/cin > /tmp/cout &
NC=$!
exec 3> /tmp/cin
echo line-one >&3
sleep 1
grep -q line-one /tmp/cout || fail "no echo of line-one"
X=$(ipvsadm -Lnc | awk -v v=$VIP:8080 '$3 == "ESTABLISHED" && $5 == v {print $6}' | sed -n 's/^10\.1\.\([123]\)\.2:8080$/\1/p' | head -1)
[ -n "$X" ] || { ipvsadm -Lnc; fail "no ESTABLISHED entry through the VIP"; }
echo "the live connection goes to rs$X"
case $X in 1) WX=3;; 2) WX=2;; 3) WX=1;; esac

step "stop rs$X's httpd: removed from :80, weight 0 on :8080"
mark
stop_httpd $X
within $LIMIT_CS "rs$X removed from :80 (remove)" weight_is $VIP:80 10.1.$X.2:80 absent
within $LIMIT_CS "rs$X weight 0 on :8080 (weight0)" weight_is $VIP:8080 10.1.$X.2:8080 0
ipvsadm -Ln
weight_is $VIP:80 10.1.9.2:80 absent || fail "sorry server added while real servers are up"
dns_is $VIP || fail "the VIP left DNS while it keeps its quorum"
echo line-two >&3
sleep 1
grep -q line-two /tmp/cout || { cat /tmp/cout; fail "the live connection broke when its real server went to weight 0"; }
ipvsadm -Lnc | awk -v v=$VIP:8080 '$3 == "ESTABLISHED" && $5 == v' | grep -q "10.1.$X.2:8080" || fail "connection entry lost"
got="$(fetch) $(fetch) $(fetch) $(fetch)"
echo "client got: $got"
echo "$got" | grep -q "rs$X" && fail "a removed real server still gets traffic"

step "restart rs$X's httpd: back with its weights"
mark
start_httpd $X
within $LIMIT_CS "rs$X back on :80 with weight $WX" weight_is $VIP:80 10.1.$X.2:80 $WX
within $LIMIT_CS "rs$X weight 5 on :8080" weight_is $VIP:8080 10.1.$X.2:8080 5
expect_weights serve.expected
echo line-three >&3
exec 3>&-
sleep 1
kill $NC 2>/dev/null
grep -q line-three /tmp/cout || { cat /tmp/cout; fail "the live connection broke"; }

step "overrides reach the kernel: drain keeps a live connection"
ovr() { $M override "$@" --config serve.toml > /tmp/ovr.out 2>&1 || { cat /tmp/ovr.out; fail "override $*"; }; }
mkfifo /tmp/cin2
$IP netns exec cl nc $VIP 8080 < /tmp/cin2 > /tmp/cout2 &
NC2=$!
exec 4> /tmp/cin2
echo drain-one >&4
sleep 1
grep -q drain-one /tmp/cout2 || fail "no echo of drain-one"
D=$(ipvsadm -Lnc | awk -v v=$VIP:8080 '$3 == "ESTABLISHED" && $5 == v {print $6}' | sed -n 's/^10\.1\.\([123]\)\.2:8080$/\1/p' | head -1)
[ -n "$D" ] || { ipvsadm -Lnc; fail "no ESTABLISHED entry for the drain test"; }
case $D in 1) WD=3;; 2) WD=2;; 3) WD=1;; esac
echo "the live connection goes to rs$D"
mark
ovr set addr:10.1.$D.2 drain
# drain = weight 0 while connections remain, whatever on_failure says: kept on :8080 (the
# live connection), deleted from :80 (none left) within a drain poll
within $LIMIT_CS "drain: rs$D weight 0 on :8080" weight_is $VIP:8080 10.1.$D.2:8080 0
within $LIMIT_CS "drain: rs$D without connections on :80 deleted" weight_is $VIP:80 10.1.$D.2:80 absent
echo drain-two >&4
sleep 1
grep -q drain-two /tmp/cout2 || { cat /tmp/cout2; fail "the live connection broke when its real server was drained"; }
ipvsadm -Lnc | awk -v v=$VIP:8080 '$3 == "ESTABLISHED" && $5 == v' | grep -q "10.1.$D.2:8080" || fail "connection entry lost by the drain"
got="$(fetch) $(fetch) $(fetch) $(fetch)"
echo "client got: $got"
echo "$got" | grep -q "rs$D" && fail "a drained real server still gets new connections"

step "override down on rs$D: on_failure applies (removed from :80, weight 0 on :8080)"
mark
ovr set addr:10.1.$D.2 down
within $LIMIT_CS "down: rs$D removed from :80" weight_is $VIP:80 10.1.$D.2:80 absent
weight_is $VIP:8080 10.1.$D.2:8080 0 || fail "down: rs$D not at weight 0 on :8080"
echo drain-three >&4
sleep 1
grep -q drain-three /tmp/cout2 || { cat /tmp/cout2; fail "the live connection broke at weight 0"; }
exec 4>&-
kill $NC2 2>/dev/null

step "override up on rs$D forces it in while its httpd is stopped"
mark
ovr set addr:10.1.$D.2 up
within $LIMIT_CS "up: rs$D back on :80" weight_is $VIP:80 10.1.$D.2:80 $WD
stop_httpd $D
sleep 2.5
weight_is $VIP:80 10.1.$D.2:80 $WD || { ipvsadm -Ln; fail "up override did not hold rs$D in"; }
weight_is $VIP:8080 10.1.$D.2:8080 5 || { ipvsadm -Ln; fail "up override did not hold rs$D in on :8080"; }
mark
ovr clear addr:10.1.$D.2
within $LIMIT_CS "clear: the probe decides again (removed)" weight_is $VIP:80 10.1.$D.2:80 absent
mark
start_httpd $D
within $LIMIT_CS "every weight back after the overrides" table_is serve.expected

step "override drain on the VIP: every real server drained (no connections: deleted), DNS moves to dr"
mark
ovr set addr:$VIP drain
within $LIMIT_CS "VIP drain: DNS answers dr" dns_is $DR
for i in 1 2 3; do
  within $LIMIT_CS "VIP drain: rs$i deleted from :80" weight_is $VIP:80 10.1.$i.2:80 absent
  within $LIMIT_CS "VIP drain: rs$i deleted from :8080" weight_is $VIP:8080 10.1.$i.2:8080 absent
done
mark
ovr clear addr:$VIP
within $LIMIT_CS "VIP drain cleared: every weight back" table_is serve.expected
within $LIMIT_CS "VIP drain cleared: DNS answers the VIP" dns_is $VIP

step "stop every httpd: sorry server in, quorum lost, DNS moves to site dr"
mark
for i in 1 2 3; do stop_httpd $i; done
within $LIMIT_CS "sorry server added to :80" weight_is $VIP:80 10.1.9.2:80 1
within $LIMIT_CS "DNS answers dr" dns_is $DR
within $((LIMIT_CS + 25)) "the DNS node answers dr (the director's quorum over gossip)" dns_node_is $DR
ipvsadm -Ln
for i in 1 2 3; do
  weight_is $VIP:80 10.1.$i.2:80 absent || fail "rs$i still in :80"
  weight_is $VIP:8080 10.1.$i.2:8080 0 || fail "rs$i not at weight 0 in :8080"
done
explain_is $DR || { cat /tmp/explain.json; fail "explain does not give site dr"; }
got=$(fetch)
echo "client got: $got"
[ "$got" = sorry ] || fail "the sorry server does not answer through the VIP"

step "restart every httpd: sorry server out, DNS back to the VIP"
mark
for i in 1 2 3; do start_httpd $i; done
within $LIMIT_CS "sorry server removed" weight_is $VIP:80 10.1.9.2:80 absent
within $LIMIT_CS "DNS answers the VIP" dns_is $VIP
within $((LIMIT_CS + 25)) "the DNS node answers the VIP again" dns_node_is $VIP
within $LIMIT_CS "every weight back" table_is serve.expected
explain_is $VIP || { cat /tmp/explain.json; fail "explain does not give the VIP again"; }
got="$(fetch) $(fetch) $(fetch)"
echo "client got: $got"
echo "$got" | grep -q sorry && fail "the sorry server still gets traffic"

step "SIGTERM"
kill $DNSNODE; wait $DNSNODE || { tail -20 /tmp/dns-node.log; fail "the DNS node did not exit cleanly"; }
kill $SERVE
wait $SERVE || { cat /tmp/serve.log; fail "meridian serve did not exit cleanly"; }
grep -E '"health state changed"|"ipvs change"|quorum|vip' /tmp/serve.log | cut -c1-300
true
