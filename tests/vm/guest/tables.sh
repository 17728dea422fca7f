# Every scheduler and forwarding method, IPv4 and IPv6, TCP/UDP/SCTP and fwmark services:
# apply, compare with ipvsadm -Ln, re-apply (zero operations), compare `lvs show`, and the
# clear error for a scheduler this kernel lacks (twos on 6.1).
step "apply tables.toml"
$M lvs apply --config tables.toml > /tmp/ops1.txt || fail "apply failed"
echo "$(wc -l < /tmp/ops1.txt) operations"
[ "$(wc -l < /tmp/ops1.txt)" = "$(cat expected-ops-count)" ] || fail "expected $(cat expected-ops-count) operations"
ipvsadm -Ln
expect_table tables.expected
ipvsadm -Ln --thresholds | grep -q '10.30.0.2:5000 .* 100 *10 ' || { ipvsadm -Ln --thresholds; fail "thresholds not set"; }

step "re-apply: zero operations"
$M lvs apply --config tables.toml > /tmp/ops2.txt || fail "second apply failed"
[ -s /tmp/ops2.txt ] && { cat /tmp/ops2.txt; fail "second apply was not a no-op"; }

step "lvs show equals ipvsadm -Ln"
$M lvs show | norm > /tmp/show.txt
ipvsadm -Ln | norm > /tmp/ipvsadm.txt
diff -u /tmp/ipvsadm.txt /tmp/show.txt || fail "lvs show differs from ipvsadm -Ln"
$M lvs show --json --stats | grep -q '"scheduler": "mh"' || fail "json output"

step "dry run prints, changes nothing"
sed 's/weight = 99$/weight = 98/' tables.toml > /tmp/t2.toml
$M lvs apply --config /tmp/t2.toml --dry-run > /tmp/ops3.txt || fail "dry run failed"
cat /tmp/ops3.txt
[ "$(wc -l < /tmp/ops3.txt)" = 1 ] || fail "dry run: expected one operation"
grep -q -- '-w 98$' /tmp/ops3.txt || fail "dry run: expected a weight edit"
expect_table tables.expected

step "timeouts and sync daemons, against ipvsadm"
$M lvs timeouts --tcp 901 --udp 299 || fail "set timeouts"
ipvsadm -L --timeout
ipvsadm -L --timeout | grep -q 'Timeout (tcp tcpfin udp): 901 120 299' || fail "timeouts not set"
[ "$($M lvs timeouts)" = "$(ipvsadm -L --timeout)" ] || fail "lvs timeouts differs from ipvsadm"
$M lvs sync start --state master --interface lo --sync-id 7 || fail "start master"
$M lvs sync start --state backup --interface lo --sync-id 8 || fail "start backup"
ipvsadm -L --daemon
ipvsadm -L --daemon | grep -q 'master sync daemon (mcast=lo, syncid=7' || fail "master not running"
ipvsadm -L --daemon | grep -q 'backup sync daemon (mcast=lo, syncid=8' || fail "backup not running"
$M lvs sync show | grep -q 'master sync daemon (mcast=lo, syncid=7)' || fail "sync show"
$M lvs sync stop --state master || fail "stop master"
$M lvs sync stop --state backup || fail "stop backup"
ipvsadm -L --daemon | grep -q 'sync daemon' && fail "daemons still running"

step "without CAP_NET_ADMIN: clear error"
if unshare -U /host/meridian lvs show > /dev/null 2> /tmp/err5; then fail "lvs show worked without CAP_NET_ADMIN"; fi
cat /tmp/err5
grep -q 'permission denied: IPVS needs CAP_NET_ADMIN' /tmp/err5 || fail "unclear permission error"

step "twos is not in this kernel: clear error"
if $M lvs apply --config twos.toml > /tmp/ops4.txt 2> /tmp/err4.txt; then fail "twos accepted"; fi
cat /tmp/err4.txt
grep -q 'scheduler "twos" is not available in this kernel' /tmp/err4.txt || fail "unclear twos error"
ipvsadm -Ln | grep -q '10.40.0.1:80' && fail "twos service exists"
true
