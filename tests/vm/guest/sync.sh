# Connection synchronisation between two directors, each `meridian lvs run` with
# `[lvs] sync = { role = "both", interface = "eth0", syncid = 7 }`:
#   cl (10.0.0.2) -- rt (10.0.0.1 | 10.9.0.1) --+-- br0 --+-- d1 (10.9.0.11, holds the VIP first)
#                                                          +-- d2 (10.9.0.12)
#                                                          +-- rs1 (10.9.0.21), rs2 (10.9.0.22): echo :8080
# A connection established through d1 appears in d2's connection table (ipvsadm -Lnc); the
# VIP then moves to d2 (address moved, the router re-ARPs) and the same connection keeps
# working through d2.
step "topology"
$IP link add br0 type bridge; $IP link set br0 up
$IP netns add cl; $IP netns add rt
$IP link add c0 type veth peer name r0
$IP link set c0 netns cl; $IP link set r0 netns rt
$IP -n cl addr add 10.0.0.2/24 dev c0; $IP -n cl link set c0 up; $IP -n cl link set lo up
$IP -n cl route add default via 10.0.0.1
$IP -n rt addr add 10.0.0.1/24 dev r0; $IP -n rt link set r0 up; $IP -n rt link set lo up
attach rt 10.9.0.1
$IP netns exec rt sysctl -qw net.ipv4.ip_forward=1
$IP -n rt route add 10.9.9.0/24 dev eth0
for d in 1 2; do
  $IP netns add d$d; attach d$d 10.9.0.1$d
  $IP -n d$d route add default via 10.9.0.1
done
$IP -n d1 addr add 10.9.9.1/32 dev lo
for i in 1 2; do
  $IP netns add rs$i; attach rs$i 10.9.0.2$i
  $IP -n rs$i route add default via 10.9.0.1
  $IP netns exec rs$i $M realserver up --config sync.toml --record /tmp/rs$i.json > /dev/null || fail "realserver up on rs$i"
  $IP netns exec rs$i nc -ll -p 8080 -e cat &
done

step "both directors: meridian lvs run"
for d in 1 2; do
  $IP netns exec d$d $M --log-format json lvs run --config sync.toml > /tmp/d$d.log 2>&1 &
  eval D$d=$!
done
trap '[ $? = 0 ] || for d in 1 2; do echo "--- d$d log"; tail -20 /tmp/d$d.log | cut -c1-300; done' EXIT
n=0
until $IP netns exec d2 $M lvs sync show 2>/dev/null | grep -q backup && $IP netns exec d1 $M lvs sync show 2>/dev/null | grep -q master; do
  n=$((n + 1)); [ $n -gt 100 ] && fail "sync daemons not started"; sleep 0.1
done
for d in 1 2; do echo "d$d:"; $IP netns exec d$d $M lvs sync show; done
$IP netns exec d1 $M lvs sync show | grep -q 'master sync daemon (mcast=eth0, syncid=7)' || fail "d1: no master daemon"
$IP netns exec d1 $M lvs sync show | grep -q 'backup sync daemon (mcast=eth0, syncid=7)' || fail "d1: no backup daemon"
grep -q '"ipvs sync daemon change"' /tmp/d1.log || fail "no sync daemon change logged"

step "a connection through d1 shows in d2's connection table"
mkfifo /tmp/cin
$IP netns exec cl nc 10.9.9.1 8080 < /tmp/cin > /tmp/cout &
NC=$!
exec 3> /tmp/cin
for w in one two three; do echo "line-$w" >&3; sleep 0.3; done
sleep 0.5
grep -q line-three /tmp/cout || { cat /tmp/cout; fail "no echo through d1"; }
$IP netns exec d1 ipvsadm -Lnc
entry() { $IP netns exec "$1" ipvsadm -Lnc | awk '$3 == "ESTABLISHED" && $4 ~ /^10\.0\.0\.2:/ && $5 == "10.9.9.1:8080" {print $4, $6}'; }
on_d1=$(entry d1)
[ -n "$on_d1" ] || fail "no ESTABLISHED entry on d1"
now_cs() { awk '{printf "%d", $1 * 100}' /proc/uptime; }
T0=$(now_cs)
until [ "$(entry d2)" = "$on_d1" ]; do
  [ $(($(now_cs) - T0)) -gt 600 ] && { $IP netns exec d2 ipvsadm -Lnc; fail "the connection did not reach d2 within 6 s"; }
  echo "line-more" >&3; sleep 0.5
done
el=$(($(now_cs) - T0))
echo "TIMING connection synchronised to d2: $((el / 100)).$((el / 10 % 10))$((el % 10)) s"
$IP netns exec d2 ipvsadm -Lnc

step "the VIP moves to d2: the same connection keeps working"
$IP -n d1 addr del 10.9.9.1/32 dev lo
$IP -n d2 addr add 10.9.9.1/32 dev lo
$IP -n rt neigh flush 10.9.9.1
echo "after-the-move" >&3
sleep 1.5
grep -q after-the-move /tmp/cout || { cat /tmp/cout; $IP -n rt neigh; fail "the connection broke when the VIP moved"; }
d2mac=$($IP -n d2 link show eth0 | awk '/link\/ether/{print $2}')
$IP -n rt neigh show 10.9.9.1 | grep -q "$d2mac" || fail "the VIP did not move to d2"
$IP netns exec d2 ipvsadm -Ln --stats
inpkts=$($IP netns exec d2 ipvsadm -Ln --stats --exact | awk '$2 == "10.9.9.1:8080" {print $4}')
echo "d2 forwarded $inpkts packets of the connection"
exec 3>&-; kill $NC 2>/dev/null

step "a restarted director adopts its daemons"
kill -9 $D1
$IP netns exec d1 $M --log-format json -v lvs run --config sync.toml > /tmp/d1b.log 2>&1 &
D1=$!
sleep 3
grep -q '"ipvs sync daemon change"' /tmp/d1b.log && { cat /tmp/d1b.log; fail "the restart touched the sync daemons"; }
grep -q 'ipvs table in sync' /tmp/d1b.log || fail "the restarted director made no pass"
kill $D1 $D2; wait $D1; wait $D2
true
