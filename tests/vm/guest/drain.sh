# Drain as a state (`meridian serve` with [lvs], ipvsadm -Ln as the oracle):
#   1. `override set addr:RS drain` on the real server of a live connection: weight 0, the
#      connection keeps working, `lvs show` and /status show it draining with its connection;
#      when the client closes, the real server is deleted (within a drain poll); cleared, it
#      comes back with its weight.
#   2. on_failure = "drain", drain_deadline = "3s": stopping the checked httpd drains the real
#      server of a live connection; it is deleted 3 s later although the connection remains.
#   3. drain = true in the file: that real server is never added.
#   cl (10.0.0.2) -- d0 (10.0.0.1, VIP 10.0.0.100) [root ns, meridian serve]
#     -- r$i (10.1.$i.1) -- rs$i (10.1.$i.2: httpd :80, echo :8080 and :8081), i = 1 2 3
VIP=10.0.0.100
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
for i in 1 2 3; do
  $IP netns add rs$i
  $IP link add r$i type veth peer name s$i
  $IP link set s$i netns rs$i
  $IP addr add 10.1.$i.1/24 dev r$i; $IP link set r$i up
  $IP -n rs$i addr add 10.1.$i.2/24 dev s$i
  $IP -n rs$i link set s$i up; $IP -n rs$i link set lo up
  $IP -n rs$i route add default via 10.1.$i.1
  mkdir -p /tmp/www$i; echo "rs$i" > /tmp/www$i/index.html
  $IP netns exec rs$i nc -ll -p 8080 -e cat &
  $IP netns exec rs$i nc -ll -p 8081 -e cat &
done
sysctl -qw net.ipv4.ip_forward=1
HTTPD_1=; HTTPD_2=
start_httpd() { $IP netns exec rs$1 httpd -f -p 80 -h /tmp/www$1 & eval HTTPD_$1=$!; }
stop_httpd() { eval kill \$HTTPD_$1; eval wait \$HTTPD_$1 2>/dev/null; }
start_httpd 1; start_httpd 2

now_cs() { awk '{printf "%d", $1 * 100}' /proc/uptime; }
T0=0
mark() { T0=$(now_cs); }
within() {
  lim=$1; what=$2; shift 2
  while ! "$@" > /dev/null 2>&1; do
    if [ $(($(now_cs) - T0)) -gt "$lim" ]; then
      ipvsadm -Ln; tail -20 /tmp/serve.log | cut -c1-300
      fail "$what: not within $lim cs"
    fi
    sleep 0.1
  done
  el=$(($(now_cs) - T0))
  echo "TIMING $what: $((el / 100)).$((el / 10 % 10))$((el % 10)) s"
}
weight() {
  ipvsadm -Ln | awk -v s="$1" -v r="$2" '/^(TCP|UDP|SCTP|FWM) /{cur = $2}
    $1 == "->" && cur == s && $2 == r {print $4; f = 1} END {if (!f) print "absent"}'
}
weight_is() { [ "$(weight "$1" "$2")" = "$3" ]; }
ovr() { $M override "$@" --config drain.toml > /tmp/ovr.out 2>&1 || { cat /tmp/ovr.out; fail "override $*"; }; }
status() { wget -q -O - http://127.0.0.1:8053/status | tr -d ' \n'; }
# real_row SERVICE_PORT ADDR: that real server's object in /status (keys are sorted, each real
# begins with "active_conns")
real_row() { status | awk '{gsub(/\{"active_conns"/, "\n&"); print}' | grep "\"addr\":\"$2\"" | grep -F "$1"; }
# open_conn N PORT: a live echo connection through VIP:PORT on fd N; sets CONN_PID, prints rs
open_conn() {
  mkfifo /tmp/cin$1
  $IP netns exec cl nc $VIP $2 < /tmp/cin$1 > /tmp/cout$1 &
  CONN_PID=$!
  eval "exec $1> /tmp/cin$1"
  echo "hello-$1" >&$1
  sleep 1
  grep -q "hello-$1" /tmp/cout$1 || fail "no echo on the connection to :$2"
}
# echo_ok N WORD: the connection on fd N still echoes
echo_ok() { echo "$2" >&$1; sleep 1; grep -q "$2" /tmp/cout$1 || { cat /tmp/cout$1; fail "the live connection broke: $2"; }; }
conn_rs() { ipvsadm -Lnc | awk -v v=$VIP:$1 '$3 == "ESTABLISHED" && $5 == v {print $6}' | sed -n 's/^10\.1\.\([123]\)\.2:.*$/\1/p' | head -1; }

step "meridian serve with [lvs]"
trap '[ $? = 0 ] || { echo "--- meridian serve log (tail)"; tail -40 /tmp/serve.log | cut -c1-400; }' EXIT
# `user = "nobody"`: the account, and the files where nobody can read them (the share is
# the host's private temporary folder).
grep -q '^nobody:' /etc/passwd || echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >> /etc/passwd
grep -q '^nogroup:' /etc/group 2>/dev/null || echo 'nogroup:x:65534:' >> /etc/group
mkdir -p /tmp/cfg && cp drain.toml example.test.zone /tmp/cfg/ && chmod 755 /tmp/cfg && chmod 644 /tmp/cfg/*
$M --log-format json serve --config /tmp/cfg/drain.toml > /tmp/serve.log 2>&1 &
SERVE=$!
mark
within 1500 "table complete" weight_is $VIP:8081 10.1.2.2:8081 5
weight_is $VIP:8081 10.1.3.2:8081 absent || fail "drain = true: the real server was added"
ipvsadm -Ln

step "running as nobody: only the IPVS thread holds CAP_NET_ADMIN"
grep -Eq '^Uid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534' /proc/$SERVE/status || { grep -E '^(Uid|Gid)' /proc/$SERVE/status; fail "serve is not running as nobody"; }
IPVS_THREADS=0
for t in /proc/$SERVE/task/*; do
  name=$(cat $t/comm); eff=$(awk '/^CapEff/{print $2}' $t/status); prm=$(awk '/^CapPrm/{print $2}' $t/status)
  grep -Eq '^Uid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534' $t/status || fail "thread $name is not nobody"
  if [ "$name" = meridian-ipvs ]; then
    IPVS_THREADS=$((IPVS_THREADS + 1))
    [ "$eff $prm" = "0000000000001000 0000000000001000" ] || fail "meridian-ipvs CapEff/CapPrm $eff $prm"
  else
    [ "$eff $prm" = "0000000000000000 0000000000000000" ] || fail "thread $name CapEff/CapPrm $eff $prm"
  fi
done
[ $IPVS_THREADS = 1 ] || fail "$IPVS_THREADS meridian-ipvs threads"
echo "serve runs as nobody; meridian-ipvs alone holds CAP_NET_ADMIN (the weights below are its work)"

step "override drain on the real server of a live connection"
open_conn 3 8080
X=$(conn_rs 8080); [ -n "$X" ] || { ipvsadm -Lnc; fail "no ESTABLISHED entry to :8080"; }
echo "the live connection goes to rs$X"
mark
ovr set addr:10.1.$X.2 drain
within 250 "drain: rs$X weight 0" weight_is $VIP:8080 10.1.$X.2:8080 0
echo_ok 3 during-drain
sleep 2
weight_is $VIP:8080 10.1.$X.2:8080 0 || { ipvsadm -Ln; fail "a draining real server with a connection was deleted"; }
$M lvs show --config drain.toml | tee /tmp/show.txt
grep "10.1.$X.2:8080" /tmp/show.txt | grep -q "draining" || fail "lvs show does not show the drain"
grep "10.1.$X.2:8080" /tmp/show.txt | awk '{exit !($5 == 1)}' || fail "lvs show: no active connection on the draining real server"
real_row 8080 10.1.$X.2:8080 | cut -c1-400 | tee /tmp/row.txt
grep -q '"state":"draining"' /tmp/row.txt && grep -q '^{"active_conns":1,' /tmp/row.txt || fail "/status does not show the drain with its connection"
echo_ok 3 still-draining
step "the client closes: the drained real server is deleted"
mark
exec 3>&-; kill $CONN_PID 2>/dev/null
within 300 "drain ended: rs$X deleted" weight_is $VIP:8080 10.1.$X.2:8080 absent
$M lvs show --config drain.toml | tee /tmp/show.txt
grep "10.1.$X.2:8080" /tmp/show.txt | grep -q "drained (connections ended)" || fail "lvs show does not show the ended drain"
sleep 1.5
weight_is $VIP:8080 10.1.$X.2:8080 absent || fail "the drained real server came back while the drain lasts"
mark
ovr clear addr:10.1.$X.2
within 250 "drain cleared: rs$X back with weight 5" weight_is $VIP:8080 10.1.$X.2:8080 5

step "on_failure = drain with drain_deadline = 3s"
open_conn 4 8081
Y=$(conn_rs 8081); [ -n "$Y" ] || { ipvsadm -Lnc; fail "no ESTABLISHED entry to :8081"; }
echo "the live connection goes to rs$Y"
mark
stop_httpd $Y
within 250 "check failed: rs$Y weight 0 (drain)" weight_is $VIP:8081 10.1.$Y.2:8081 0
echo_ok 4 before-deadline
within 600 "deadline: rs$Y deleted with its connection open" weight_is $VIP:8081 10.1.$Y.2:8081 absent
el=$(($(now_cs) - T0))
[ $el -ge 300 ] || fail "deleted before the deadline ($el cs after the failure)"
real_row 8081 10.1.$Y.2:8081 | grep -q '"ended":"deadlinepassed"' || { status; fail "/status does not say the deadline passed"; }
grep -q '"drains ended' /tmp/serve.log || fail "no log line for the ended drains"
wget -q -O - http://127.0.0.1:8053/metrics | grep -E '^meridian_lvs_(real_draining|service_capacity|drains_ended)' | head -8
wget -q -O - http://127.0.0.1:8053/metrics | grep -q '^meridian_lvs_drains_ended_total 3' || fail "drains ended metric (the override drained rs$X on both services, the deadline one more)"
exec 4>&-; kill $CONN_PID 2>/dev/null
mark
start_httpd $Y
within 400 "check passes again: rs$Y back with weight 5" weight_is $VIP:8081 10.1.$Y.2:8081 5

step "SIGTERM"
kill $SERVE
wait $SERVE || { cat /tmp/serve.log; fail "meridian serve did not exit cleanly"; }
grep -E '"ipvs change"|drains ended' /tmp/serve.log | cut -c1-250
true
