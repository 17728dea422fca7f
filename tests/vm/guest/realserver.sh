# Real servers prepared only by `meridian realserver`, a DR and a TUN service end to end:
#   cl (10.0.0.2) -- rt (10.0.0.1 | 10.9.0.1, ip_forward) --+-- br0 (a switch in the root ns)
#                                                           +-- dir (10.9.0.10, VIPs on lo, IPVS, no forwarding)
#                                                           +-- rs1 (10.9.0.21) +-- rs2 (10.9.0.22)
# The router treats the VIPs 10.9.9.0/24 as on-link: it ARPs for them, and only the director
# may answer (the real servers hold the VIPs too: arp_ignore/arp_announce). Replies leave the
# real servers by their default route (the router) straight to the client: the director does
# not forward at all. The real servers start with strict rp_filter, which drops decapsulated
# TUN packets unless realserver loosens it on tunl0.
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
$IP -n rt route add 10.9.9.0/24 dev eth0      # VIPs on-link: the router ARPs for them
$IP netns add dir; attach dir 10.9.0.10
$IP -n dir route add default via 10.9.0.1
$IP netns exec dir sysctl -qw net.ipv4.ip_forward=0
$IP -n dir addr add 10.9.9.1/32 dev lo; $IP -n dir addr add 10.9.9.2/32 dev lo
for i in 1 2; do
  $IP netns add rs$i; attach rs$i 10.9.0.2$i
  $IP -n rs$i route add default via 10.9.0.1
  $IP netns exec rs$i sysctl -qw net.ipv4.conf.all.rp_filter=1
  $IP netns exec rs$i sysctl -qw net.ipv4.conf.default.rp_filter=1
  mkdir -p /tmp/www$i; echo "rs$i" > /tmp/www$i/index.html
  $IP netns exec rs$i httpd -p 80 -h /tmp/www$i
done
rs() { n=$1; shift; $IP netns exec rs$n "$M" realserver "$@" --config realserver.toml --record /tmp/rs$n.json; }
sc() { $IP netns exec "$1" cat /proc/sys/net/ipv4/conf/$2; }

step "the director: meridian lvs apply in its namespace"
$IP netns exec dir $M lvs apply --config realserver.toml || fail "lvs apply"
$IP netns exec dir ipvsadm -Ln

step "before realserver: --check reports the drift, exit 1"
rs 1 --check > /tmp/check.txt; rc=$?
cat /tmp/check.txt
[ $rc = 1 ] || fail "--check on an unprepared host exited $rc"
grep -q 'drift: add 10.9.9.1/32 on lo' /tmp/check.txt || fail "--check does not name the missing DR VIP"
grep -q 'drift: create ipip device tunl0' /tmp/check.txt || fail "--check does not name the tunnel"
$IP -n rs1 addr show dev lo | grep -q 10.9.9.1 && fail "--check changed something"

step "meridian realserver up on both real servers"
for i in 1 2; do rs $i up || fail "realserver up on rs$i"; done
for i in 1 2; do
  $IP -n rs$i addr show dev lo | grep -q 'inet 10.9.9.1/32' || fail "rs$i: no DR VIP on lo"
  $IP -n rs$i addr show dev tunl0 | grep -q 'inet 10.9.9.2/32' || fail "rs$i: no TUN VIP on tunl0"
  $IP -n rs$i link show tunl0 | grep -q ',UP' || fail "rs$i: tunl0 is not up"
  [ "$(sc rs$i all/arp_ignore)" = 1 ] && [ "$(sc rs$i all/arp_announce)" = 2 ] || fail "rs$i: ARP settings"
  [ "$(sc rs$i tunl0/rp_filter)" = 2 ] || fail "rs$i: rp_filter on tunl0 is $(sc rs$i tunl0/rp_filter)"
  rs $i --check || fail "rs$i: drift right after up"
done
rs 1 up > /tmp/again.txt || fail "second up"
cat /tmp/again.txt
grep -q 'nothing to change' /tmp/again.txt || fail "a second up changed something"

step "a client reaches the DR and the TUN service; replies go straight back"
for vip in 10.9.9.1 10.9.9.2; do
  got=""
  for n in 1 2 3 4; do got="$got $($IP netns exec cl timeout 5 wget -q -O - http://$vip/)"; done
  echo "client got from $vip:$got"
  echo "$got" | grep -q rs1 && echo "$got" | grep -q rs2 || fail "$vip: not both real servers ($got)"
done
dmac=$($IP -n dir link show eth0 | awk '/link\/ether/{print $2}')
$IP -n rt neigh show 10.9.9.1 | tee /tmp/neigh.txt
grep -q "$dmac" /tmp/neigh.txt || fail "the VIP does not resolve to the director's MAC ($dmac): a real server answered ARP"
$IP -n rs1 route get 10.0.0.2 | grep -q 'via 10.9.0.1' || fail "rs1 does not route to the client through the router"
[ "$($IP netns exec dir cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || fail "the director forwards"
$IP netns exec dir ipvsadm -Ln --stats
$IP netns exec dir ipvsadm -Lnc

step "drift by hand, then --check, up repairs it"
$IP -n rs2 addr del 10.9.9.2/32 dev tunl0
rs 2 --check > /tmp/check.txt; rc=$?
cat /tmp/check.txt
[ $rc = 1 ] && grep -q 'drift: add 10.9.9.2/32 on tunl0' /tmp/check.txt || fail "hand-made drift not reported"
rs 2 up | grep -q 'add 10.9.9.2/32 on tunl0' || fail "up did not repair"
rs 2 --check || fail "drift after the repair"

step "meridian realserver down removes what up added"
rs 1 down || fail "realserver down"
$IP -n rs1 addr show | grep -q '10.9.9.' && fail "rs1 still holds a VIP"
[ "$(sc rs1 all/arp_ignore)" = 0 ] && [ "$(sc rs1 all/arp_announce)" = 0 ] || fail "rs1: ARP settings not put back"
[ "$(sc rs1 tunl0/rp_filter)" = 1 ] || fail "rs1: rp_filter on tunl0 not put back"
$IP -n rs1 link show tunl0 | grep -q ',UP' && fail "rs1: tunl0 still up"
[ -e /tmp/rs1.json ] && fail "the record was kept after a complete down"
rs 1 --check > /dev/null && fail "--check after down reports no drift"
rs 1 down | grep -q 'nothing to change' || fail "a second down changed something"
true
