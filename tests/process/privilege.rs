//! Leaving root after binding: ids, groups and capabilities read from /proc for every
//! thread of the running server.

#![allow(clippy::disallowed_methods)] // a test harness measures wall time

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::Killed;
use crate::dnsclient::{self, Proto};
use crate::netns::Lab;
use crate::node::{Node, Site, ZONE, bin};

const NOBODY: u32 = 65534;
const CAP_NET_ADMIN: u64 = 1 << 12;

/// One thread's ids and capability sets, from /proc/PID/task/TID/status.
#[derive(Debug)]
struct Creds {
    name: String,
    uid: Vec<u32>,
    gid: Vec<u32>,
    groups: Vec<u32>,
    cap: [u64; 5], // Inh Prm Eff Bnd Amb
}

fn creds(status: &str) -> Creds {
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in\n{status}"))
            .trim()
            .to_string()
    };
    let ids = |k: &str| -> Vec<u32> {
        field(k)
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let cap = |k: &str| u64::from_str_radix(&field(k), 16).unwrap();
    Creds {
        name: field("Name:"),
        uid: ids("Uid:"),
        gid: ids("Gid:"),
        groups: ids("Groups:"),
        cap: [
            cap("CapInh:"),
            cap("CapPrm:"),
            cap("CapEff:"),
            cap("CapBnd:"),
            cap("CapAmb:"),
        ],
    }
}

/// Every thread of `pid`.
fn threads(pid: u32) -> Vec<Creds> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = e.unwrap().path().join("status");
        if let Ok(text) = std::fs::read_to_string(path) {
            out.push(creds(&text));
        }
    }
    assert!(out.len() > 2, "{out:?}");
    out
}

/// Opens the test's folder and files to others, as an operator's /etc is.
fn open_to_all(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["meridian.toml", "example.test.zone"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// An address of 127/8 of this test's own, with a port below 1024 (binding it needs root).
fn privileged_addr() -> SocketAddr {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pid = std::process::id();
    let ip = Ipv4Addr::new(127, 100 + n, (pid >> 8) as u8, (pid as u8).max(1));
    SocketAddr::new(IpAddr::V4(ip), 953)
}

fn admin_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn a_records(server: SocketAddr, name: &str, proto: Proto) -> Vec<u8> {
    let q = dnsclient::query(0x4242, name, RecordType::A, None);
    let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
    dnsclient::exchange(proto, src, server, &q)
}

/// Starts a site as root with `user = "nobody"` and `tail`; returns it serving.
fn start_as_root(tail: &str) -> (Site, Node, SocketAddr, SocketAddr) {
    let low = privileged_addr();
    let admin = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        dnsclient::free_port(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]),
    );
    let site = Site::new("", "");
    let server = format!(
        "[server]\nlisten = [\"{}\", \"{low}\"]\nzones = \"example.test.zone\"\n\
         admin = \"{admin}\"\nuser = \"nobody\"\n{tail}",
        site.addr
    );
    std::fs::write(site.config(), server).unwrap();
    open_to_all(site.dir.path());
    let mut node = site.start(&[]);
    node.wait_answering(site.addr);
    (site, node, low, admin)
}

#[test]
fn root_binds_port_953_then_runs_as_nobody_with_no_capability() {
    let (site, node, low, admin) = start_as_root("");
    let log = node.stderr();
    assert!(log.contains("left root"), "{log}");
    for t in threads(node.pid()) {
        assert_eq!(t.uid, [NOBODY; 4], "{t:?}");
        assert_eq!(t.gid, [NOBODY; 4], "{t:?}");
        assert_eq!(t.groups, [NOBODY], "{t:?}");
        // Inheritable, permitted, effective and ambient are empty on every thread.
        assert_eq!([t.cap[0], t.cap[1], t.cap[2], t.cap[4]], [0; 4], "{t:?}");
    }
    // Both listeners, the one on port 953 included, answer over UDP and TCP.
    for addr in [site.addr, low] {
        for proto in [Proto::Udp, Proto::Tcp] {
            let r = a_records(addr, "www.example.test.", proto);
            assert_eq!(dnsclient::rcode(&r), 0, "{addr} {proto:?}");
        }
    }
    let status = admin_get(admin, "/status");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // A reload as nobody reads the changed zone.
    let zone = site.dir.path().join("example.test.zone");
    let mut text = std::fs::read_to_string(&zone).unwrap();
    text.push_str("new A 192.0.2.99\n");
    std::fs::write(&zone, text).unwrap();
    node.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = a_records(site.addr, "new.example.test.", Proto::Udp);
        if dnsclient::rcode(&r) == 0 && r.windows(4).any(|w| w == [192, 0, 2, 99]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reload not applied:\n{}",
            node.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(node.stderr().contains("refused=0"), "{}", node.stderr());
}

const LVS: &str = r#"
[site.hq]
links = { default = ["192.0.2.10"] }

[lvs]
site = "hq"
[[lvs.service]]
vip = "203.0.113.10:80"
protocol = "tcp"
scheduler = "wlc"
forward = "dr"
[[lvs.service.real]]
addr = "10.0.0.1:8080"
"#;

/// In a network namespace made here, so that a kernel with `ip_vs` gets the test's service
/// in that namespace's IPVS table, not the host's (without `ip_vs`, the director retries).
#[test]
fn with_lvs_only_the_ipvs_thread_keeps_cap_net_admin() {
    let mut lab = Lab::new("lv");
    let host = lab.host("d", 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("example.test.zone"), ZONE).unwrap();
    let cfg = dir.path().join("meridian.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = [\"127.0.0.1:5301\"]\nzones = \"example.test.zone\"\n\
             user = \"nobody\"\n{LVS}"
        ),
    )
    .unwrap();
    open_to_all(dir.path());
    let log = dir.path().join("stderr.log");
    let mut child = Killed(
        host.command(&bin())
            .args(["serve", "--config"])
            .arg(&cfg)
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    let addr: SocketAddr = "127.0.0.1:5301".parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !host.enter(|| crate::node::answers(addr, Duration::from_millis(200))) {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "exited:\n{}",
            stderr()
        );
        assert!(Instant::now() < deadline, "not answering:\n{}", stderr());
    }
    assert!(stderr().contains("left root"), "{}", stderr());
    let pid = child.0.id();
    let all = threads(pid);
    let ipvs: Vec<&Creds> = all.iter().filter(|t| t.name == "meridian-ipvs").collect();
    assert_eq!(ipvs.len(), 1, "{all:?}");
    assert_eq!(ipvs[0].cap[1..3], [CAP_NET_ADMIN, CAP_NET_ADMIN], "{all:?}");
    for t in &all {
        assert_eq!(t.uid, [NOBODY; 4], "{t:?}");
        assert_eq!([t.cap[0], t.cap[4]], [0, 0], "{t:?}");
        if t.name != "meridian-ipvs" {
            assert_eq!([t.cap[1], t.cap[2]], [0, 0], "{t:?}");
        }
    }
    // The main thread, which /proc/PID/status shows, holds nothing.
    let main = creds(&std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap());
    assert_eq!([main.cap[1], main.cap[2]], [0, 0], "{main:?}");
    let r = host.enter(|| a_records(addr, "www.example.test.", Proto::Tcp));
    assert_eq!(dnsclient::rcode(&r), 0);
    assert!(child.0.try_wait().unwrap().is_none(), "{}", stderr());
}

#[test]
fn a_policy_file_nobody_can_read_refuses_the_start() {
    let site = Site::new("user = \"nobody\"", "");
    // A folder only root may enter: after the drop, the policy file cannot be read again.
    std::fs::set_permissions(site.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut node = site.start(&[]);
    let code = node.wait_exit(Duration::from_secs(20));
    let log = node.stderr();
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("server.user = \"nobody\": after leaving root"),
        "{log}"
    );
    assert!(log.contains("policy file cannot be loaded again"), "{log}");
}

fn run_as_nobody(site: &Site) -> std::process::Child {
    Command::new(bin())
        .args(["serve", "--config"])
        .arg(site.config())
        .env_remove("NOTIFY_SOCKET")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(site.dir.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn not_root_the_configured_user_is_served_and_another_is_refused() {
    // Started as nobody with user = "nobody" (as under the systemd units): it serves.
    let site = Site::new("user = \"nobody\"", "");
    open_to_all(site.dir.path());
    let mut child = run_as_nobody(&site);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !crate::node::answers(site.addr, Duration::from_millis(200)) {
        assert!(child.try_wait().unwrap().is_none(), "exited");
        assert!(Instant::now() < deadline, "not answering");
    }
    let _ = child.kill();
    let _ = child.wait();
    // Started as nobody with user = "daemon": refused, exit 2, the key named.
    let site = Site::new("user = \"daemon\"", "");
    open_to_all(site.dir.path());
    let mut child = run_as_nobody(&site);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(site.dir.path().join("stderr.log")).unwrap();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("server.user = \"daemon\""), "{log}");
    assert!(log.contains("not root"), "{log}");
}

/// The processes whose parent is `pid` and whose command line contains `word` (pgrep).
fn children_running(pid: u32, word: &str) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string(), "-f", word])
        .output()
        .expect("pgrep (procps) is installed by scripts/test-all.sh");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// `[anycast] backend = "exabgp"` started as root with `user = "nobody"` (as ExaBGP runs its
/// processes when `exabgp.daemon.user = root`): the relay Meridian starts before it leaves
/// root runs as nobody from its start, without groups or capabilities, and relays the
/// announcement on the pipes it inherited. The test plays ExaBGP's side of the process API:
/// it reads the commands on Meridian's standard output and acknowledges each with `done`.
#[test]
fn the_exabgp_relay_started_as_root_runs_as_the_configured_user() {
    let low = privileged_addr();
    let site = Site::new("", "");
    let cfg = format!(
        "[server]\nlisten = [\"{}\", \"{low}\"]\nzones = \"example.test.zone\"\n\
         user = \"nobody\"\n\n[anycast]\nbackend = \"exabgp\"\nexabgp_watchdog = \"1s\"\n\
         grace = \"1s\"\n\n[[anycast.prefix]]\nprefix = \"192.0.2.53/32\"\n\
         next_hop = \"192.0.2.1\"\nwhen = [\"dns\"]\nrise = 2\nfall = 3\ninterval = \"300ms\"\n",
        site.addr
    );
    std::fs::write(site.config(), cfg).unwrap();
    open_to_all(site.dir.path());
    let log = site.dir.path().join("stderr.log");
    let mut child = Killed(
        Command::new(bin())
            .args(["serve", "--config"])
            .arg(site.config())
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    // ExaBGP's side: every command line is acknowledged, and the lines are passed on.
    let mut acks = child.0.stdin.take().unwrap();
    let out = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if acks.write_all(b"done\n").is_err() || tx.send(line).is_err() {
                return;
            }
        }
    });
    let announce = "announce route 192.0.2.53/32 next-hop 192.0.2.1";
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == announce) {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "exited:\n{}",
            stderr()
        );
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no announcement; saw {seen:?}\n{}",
            stderr()
        );
        if let Ok(l) = rx.recv_timeout(left.min(Duration::from_millis(200))) {
            seen.push(l);
        }
    }
    assert!(stderr().contains("left root"), "{}", stderr());
    let relays = children_running(child.0.id(), "exabgp-relay");
    assert_eq!(relays.len(), 1, "one relay under Meridian: {relays:?}");
    let relay = creds(&std::fs::read_to_string(format!("/proc/{}/status", relays[0])).unwrap());
    assert_eq!(relay.uid, [NOBODY; 4], "{relay:?}");
    assert_eq!(relay.gid, [NOBODY; 4], "{relay:?}");
    assert!(relay.groups.is_empty(), "{relay:?}");
    assert_eq!(
        [relay.cap[0], relay.cap[1], relay.cap[2], relay.cap[4]],
        [0; 4],
        "{relay:?}"
    );
    // Meridian itself left root as well.
    for t in threads(child.0.id()) {
        assert_eq!(t.uid, [NOBODY; 4], "{t:?}");
    }
}

/// An `exec` check started as root with `user = "nobody"` runs its program as nobody from
/// the first probe: the health prober starts only once root is left. The check appends
/// its own `Uid:` line to a file; a tiny interval puts the first probes in the moments
/// right after the start, where a prober started before the switch would run them as root.
#[test]
fn exec_checks_run_as_the_configured_user_from_the_first_probe() {
    let site = Site::new("", "");
    let uids = site.dir.path().join("uids");
    std::fs::write(&uids, "").unwrap();
    std::fs::set_permissions(&uids, std::fs::Permissions::from_mode(0o666)).unwrap();
    let cfg = format!(
        "[server]\nlisten = [\"{}\"]\nzones = \"example.test.zone\"\nuser = \"nobody\"\n\n\
         [site.a]\nlinks = {{ default = [\"127.0.0.31\"] }}\n\n\
         [service.svc]\nname = \"svc.example.test\"\nsites = [\"a\"]\nmode = \"failover\"\n\
         check = {{ type = \"exec\", command = [\"/bin/sh\", \"-c\", \
         \"grep ^Uid: /proc/self/status >> {}\"], interval = \"10ms\", timeout = \"10ms\" }}\n",
        site.addr,
        uids.display()
    );
    std::fs::write(site.config(), cfg).unwrap();
    open_to_all(site.dir.path());
    let mut node = site.start(&[]);
    node.wait_answering(site.addr);
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = loop {
        let text = std::fs::read_to_string(&uids).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= 20 {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} probes seen:\n{}",
            lines.len(),
            node.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(node.stderr().contains("left root"), "{}", node.stderr());
    for l in &lines {
        let ids: Vec<u32> = l
            .trim_start_matches("Uid:")
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(ids, [NOBODY; 4], "a probe ran as {l:?}; all:\n{lines:?}");
    }
}
