# End to end through a NAT service: client and real servers in network namespaces, the
# director in the root namespace. A live TCP connection survives a reconcile that changes
# weights and schedulers and adds a real server (edits in place); restart after kill -9 makes
# zero changes; hand-made drift is repaired within one resync; unmanaged services stay.
#   cl (10.0.0.2) -- d0 (10.0.0.1, VIP 10.0.0.100) [root ns] -- r$i (10.1.$i.1) -- rs$i (10.1.$i.2)
step "topology"
$IP netns add cl
$IP link add d0 type veth peer name c0
$IP link set c0 netns cl
$IP addr add 10.0.0.1/24 dev d0; $IP addr add 10.0.0.100/32 dev d0; $IP link set d0 up
$IP netns exec cl $IP addr add 10.0.0.2/24 dev c0
$IP netns exec cl $IP link set c0 up; $IP netns exec cl $IP link set lo up
$IP netns exec cl $IP route add default via 10.0.0.1
for i in 1 2 3; do
  $IP netns add rs$i
  $IP link add r$i type veth peer name s$i
  $IP link set s$i netns rs$i
  $IP addr add 10.1.$i.1/24 dev r$i; $IP link set r$i up
  $IP netns exec rs$i $IP addr add 10.1.$i.2/24 dev s$i
  $IP netns exec rs$i $IP link set s$i up; $IP netns exec rs$i $IP link set lo up
  $IP netns exec rs$i $IP route add default via 10.1.$i.1
  mkdir -p /tmp/www$i; echo "rs$i" > /tmp/www$i/index.html
  $IP netns exec rs$i httpd -p 80 -h /tmp/www$i
  $IP netns exec rs$i nc -ll -p 8080 -e cat &
done
sysctl -qw net.ipv4.ip_forward=1
fetch() { # fetch N: who answered N requests to the VIP
  got=""; n=0
  while [ $n -lt $1 ]; do
    got="$got $($IP netns exec cl timeout 10 wget -q -O - http://10.0.0.100/)"; n=$((n+1))
  done
  echo "client got:$got"
}

step "apply v1"
$M lvs apply --config e2e-v1.toml > /tmp/ops.txt || fail "apply v1"
cat /tmp/ops.txt
expect_weights e2e-v1.expected
fetch 4
echo "$got" | grep -q rs1 && echo "$got" | grep -q rs2 || fail "traffic did not reach rs1 and rs2"

step "open a long-lived connection through VIP:8080"
mkfifo /tmp/cin
( exec 3>/tmp/cin; echo line-one >&3; sleep 12; echo line-two >&3; sleep 4 ) &
FEED=$!
$IP netns exec cl nc 10.0.0.100 8080 < /tmp/cin > /tmp/cout &
NC=$!
sleep 3
grep -q line-one /tmp/cout || fail "no echo of line-one"
ipvsadm -Lnc | grep '10.0.0.100:8080' | grep -q ESTABLISHED || { ipvsadm -Lnc; fail "no ESTABLISHED entry"; }
sleep 2   # the stats estimator sums counters every ~2 s
conns_before=$(ipvsadm -Ln --stats --exact | awk '$2 == "10.0.0.100:80" {print $3}')
echo "VIP:80 connections so far: $conns_before"

step "apply v2: weights, schedulers, a new real server; in place"
$M lvs apply --config e2e-v2.toml > /tmp/ops.txt || fail "apply v2"
cat /tmp/ops.txt
expect_ops /tmp/ops.txt \
  "-E -t 10.0.0.100:80 -s wrr" "-E -t 10.0.0.100:8080 -s sed" \
  "-e -t 10.0.0.100:80 -r 10.1.1.2:80 -m -w 3" "-a -t 10.0.0.100:80 -r 10.1.3.2:80 -m -w 2" \
  "-e -t 10.0.0.100:8080 -r 10.1.1.2:8080 -m -w 5" "-e -t 10.0.0.100:8080 -r 10.1.2.2:8080 -m -w 2" \
  "-a -t 10.0.0.100:8080 -r 10.1.3.2:8080 -m -w 1"
expect_weights e2e-v2.expected
ipvsadm -Lnc | grep '10.0.0.100:8080' | grep -q ESTABLISHED || { ipvsadm -Lnc; fail "connection entry lost"; }
wait $FEED
sleep 1
cat /tmp/cout
grep -q line-two /tmp/cout || fail "the live connection broke across the reconcile"
sleep 2
conns_after=$(ipvsadm -Ln --stats --exact | awk '$2 == "10.0.0.100:80" {print $3}')
echo "VIP:80 connections after the edit: $conns_after"
[ "$conns_before" -ge 4 ] && [ "$conns_after" -ge "$conns_before" ] || fail "service counters were reset (deleted and re-added?)"
fetch 6
echo "$got" | grep -q rs3 || fail "the new real server gets no traffic"

step "kill -9 and restart: zero operations"
$M --log-format json -v lvs run --config e2e-v2.toml > /tmp/run1.log 2>&1 &
P=$!
sleep 4
kill -9 $P
cat /tmp/run1.log
grep -q '"ipvs change"' /tmp/run1.log && fail "start-up against a converged table changed something"
grep -q 'ipvs table in sync' /tmp/run1.log || fail "the director made no pass"
$M --log-format json -v lvs run --config e2e-v2.toml > /tmp/run2.log 2>&1 &
P=$!
sleep 4
grep -q '"ipvs change"' /tmp/run2.log && { cat /tmp/run2.log; fail "restart after kill -9 changed something"; }

step "hand-made drift is repaired within one resync; unmanaged services stay"
ipvsadm -a -t 10.0.0.100:80 -r 10.1.9.9:80 -m -w 5
ipvsadm -e -t 10.0.0.100:80 -r 10.1.2.2:80 -m -w 77
ipvsadm -E -t 10.0.0.100:8080 -s lc
ipvsadm -A -t 10.0.0.200:80 -s rr
ipvsadm -a -t 10.0.0.200:80 -r 10.1.1.2:80 -m
sleep 5
kill $P
wait $P || fail "the director did not exit cleanly on SIGTERM"
cat /tmp/run2.log
ipvsadm -Ln
grep -v '10.0.0.200' e2e-v2.expected > /tmp/managed.expected
ipvsadm -Ln | norm | grep -v '10.0.0.200' | sed -E '/->/s/ [0-9]+ [0-9]+$//' > /tmp/got.txt
diff -u /tmp/managed.expected /tmp/got.txt || fail "drift not repaired"
[ "$(grep -c '"ipvs change"' /tmp/run2.log)" = 3 ] || fail "expected exactly 3 repairs"
ipvsadm -Ln | grep -q '10.0.0.200:80' || fail "the unmanaged service was touched"

step "apply v3: remove a real server"
$M lvs apply --config e2e-v3.toml > /tmp/ops.txt 2> /tmp/err.txt || fail "apply v3"
cat /tmp/ops.txt /tmp/err.txt
expect_ops /tmp/ops.txt "-d -t 10.0.0.100:80 -r 10.1.1.2:80"
grep -q 'left alone (not in the config): TCP 10.0.0.200:80' /tmp/err.txt || fail "unmanaged service not reported"
ipvsadm -Ln | grep -q '10.0.0.200:80' || fail "the unmanaged service was deleted"
fetch 3
echo "$got" | grep -q rs1 && fail "a removed real server still gets traffic"

step "SIGHUP reload in the running director (incremental, no dump)"
cp e2e-v3.toml /tmp/cfg.toml
$M --log-format json -v lvs run --config /tmp/cfg.toml > /tmp/run3.log 2>&1 &
P=$!
sleep 3
cp e2e-v1.toml /tmp/cfg.toml
kill -HUP $P
sleep 3
kill $P
wait $P || fail "the director did not exit cleanly"
grep -v 'in sync' /tmp/run3.log
grep -q 'configuration reloaded' /tmp/run3.log || fail "no reload"
grep '"ipvs reconciled"' /tmp/run3.log | grep -q '"dump_us":0' || fail "the reload pass dumped the table"
ipvsadm -Ln | norm | grep -v '10.0.0.200' | sed -E '/->/s/ [0-9]+ [0-9]+$//' > /tmp/got.txt
diff -u e2e-v1.expected /tmp/got.txt || fail "reload not applied"
ipvsadm -Ln | grep -q '10.0.0.200:80' || fail "the unmanaged service was deleted"
true
