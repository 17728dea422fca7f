# [anycast] on a director: a prefix conditioned on a VIP's quorum ("vip:10.0.0.100"), with the
# real IPVS director of `meridian serve` judging the quorum from its own health checks.
# `meridian status` (the admin endpoint's /status) is the oracle for the decision.
#
# The BGP speaker here is a recorder, not ExaBGP: Meridian's standard output (the ExaBGP
# process API, written by its relay child) goes to a shell loop that logs each line and
# answers `done` on Meridian's standard input as ExaBGP does with api.ack. That is acceptable
# only because the BGP side is tested with a real ExaBGP and a BIRD router in
# tests/anycast_exabgp.rs; the guest has no Python for ExaBGP.
#   d0 (10.0.0.1, VIP 10.0.0.100) [root ns, meridian serve]
#     -- r$i (10.1.$i.1) -- rs$i (10.1.$i.2: httpd :80 with /healthz), i = 1 2 3
# Checks every 300 ms, timeout 300 ms, rise 2, fall 2; the prefix: interval 300 ms, rise 2,
# fall 2. Limit after the real servers die: check detection (2 x 300 + 300 ms) + the
# prefix's fall x interval (600 ms) + 1 s = 2.5 s.
LIMIT_CS=250
VIP=10.0.0.100
P=192.0.2.80/32
step "topology"
mkdir -p /tmp/bin; cp $M /tmp/bin/meridian; cp -r /host/lib /tmp/lib
M=/tmp/bin/meridian; export LD_LIBRARY_PATH=/tmp/lib
$IP link add d0 type veth peer name d1; $IP link set d1 up
$IP addr add 10.0.0.1/24 dev d0; $IP addr add $VIP/32 dev d0; $IP link set d0 up
for i in 1 2 3; do
  $IP netns add rs$i
  $IP link add r$i type veth peer name s$i
  $IP link set s$i netns rs$i
  $IP addr add 10.1.$i.1/24 dev r$i; $IP link set r$i up
  $IP -n rs$i addr add 10.1.$i.2/24 dev s$i
  $IP -n rs$i link set s$i up; $IP -n rs$i link set lo up
  $IP -n rs$i route add default via 10.1.$i.1
  mkdir -p /tmp/www$i; echo ok > /tmp/www$i/healthz
done
HTTPD_1=; HTTPD_2=; HTTPD_3=
start_httpd() { $IP netns exec rs$1 httpd -f -p 80 -h /tmp/www$1 & eval HTTPD_$1=$!; }
stop_httpd() { eval kill \$HTTPD_$1; eval wait \$HTTPD_$1 2>/dev/null; }
for i in 1 2 3; do start_httpd $i; done

now_cs() { awk '{printf "%d", $1 * 100}' /proc/uptime; }
T0=0
mark() { T0=$(now_cs); }
within() {
  lim=$1; what=$2; shift 2
  while ! "$@" > /dev/null 2>&1; do
    if [ $(($(now_cs) - T0)) -gt "$lim" ]; then
      ipvsadm -Ln; $M status --config anycast.toml; tail -20 /tmp/serve.log | cut -c1-300
      fail "$what: not within $lim cs"
    fi
    sleep 0.1
  done
  el=$(($(now_cs) - T0))
  echo "TIMING $what: $((el / 100)).$((el / 10 % 10))$((el % 10)) s"
}
# anycast_is STATE: `meridian status` shows the prefix in STATE, confirmed by the speaker
anycast_is() { $M status --config anycast.toml | grep -q "^  $P  *$1  *(speaker: $1)"; }
# last_api: the last line the recorder got for the prefix
last_api() { grep " route $P " /tmp/api.log | tail -1; }
real_in() { ipvsadm -Ln | grep -q "10.1.$1.2:80"; }

step "meridian serve with [lvs] and [anycast], its API lines recorded"
trap '[ $? = 0 ] || { echo "--- meridian serve log (tail)"; tail -40 /tmp/serve.log | cut -c1-400; echo "--- API lines"; cat /tmp/api.log; }' EXIT
mkfifo /tmp/acks
: > /tmp/api.log
# The recorder: every line from Meridian logged, each answered `done` (ExaBGP's api.ack).
( $M --log-format json serve --config anycast.toml < /tmp/acks 2> /tmp/serve.log \
  | while read -r line; do echo "$line" >> /tmp/api.log; echo done; done > /tmp/acks ) &
mark
within 1000 "prefix announced (grace 1 s, rise 2)" anycast_is announced
[ "$(last_api)" = "announce route $P next-hop self" ] || fail "last API line: $(last_api)"
$M status --config anycast.toml | grep -q "vip:$VIP  *ok" || { $M status --config anycast.toml; fail "vip condition not ok"; }

step "rs1 and rs2 die: healthy weight 1 < quorum 2, the prefix is withdrawn"
mark
stop_httpd 1; stop_httpd 2
within $LIMIT_CS "prefix withdrawn after the VIP lost its quorum" anycast_is withdrawn
$M status --config anycast.toml | grep -q "why: vip:$VIP: the director's quorum is lost" \
  || { $M status --config anycast.toml; fail "why does not name the quorum"; }
[ "$(last_api)" = "withdraw route $P next-hop self" ] || fail "last API line: $(last_api)"
real_in 3 || fail "rs3 (still healthy) left the IPVS table"
within 100 "rs1 out of the IPVS table (on_failure = remove)" sh -c "! ipvsadm -Ln | grep -q 10.1.1.2:80"

step "rs1 and rs2 return: quorum back, the prefix is announced again"
mark
start_httpd 1; start_httpd 2
within $LIMIT_CS "prefix announced again after the quorum returned" anycast_is announced
[ "$(last_api)" = "announce route $P next-hop self" ] || fail "last API line: $(last_api)"
real_in 1 && real_in 2 || fail "rs1, rs2 not back in the IPVS table"

step "SIGTERM: withdrawn before the process exits"
SERVE=
for p in $(pidof meridian); do
  tr '\0' ' ' < /proc/$p/cmdline | grep -q "serve --config anycast.toml" && SERVE=$p
done
[ -n "$SERVE" ] || fail "no serve process"
mark
kill -TERM $SERVE
within 200 "withdraw line at SIGTERM" sh -c "grep ' route $P ' /tmp/api.log | tail -1 | grep -q '^withdraw'"
within 400 "serve exited" sh -c "! kill -0 $SERVE"
echo "API lines:"; cat /tmp/api.log
echo "PASS anycast"
