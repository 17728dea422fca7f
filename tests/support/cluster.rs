//! Meridian nodes in network namespaces: a [`World`] is a lab (see `netns.rs`) with three
//! site hosts holding TCP targets, a client host that sends the DNS queries and reads the
//! admin endpoints, and Meridian nodes, each `meridian serve` in its own namespace with its
//! own address, configuration, state file and log. Nodes are killed on drop; a failing test
//! prints the end of every node's log.

#![allow(dead_code)] // not every scenario uses every helper

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use serde_json::Value;

use super::netns::{Host, Lab, Listener};

pub const DNS_PORT: u16 = 53;
pub const ADMIN_PORT: u16 = 8053;
pub const GOSSIP_PORT: u16 = 7946;
pub const TARGET_PORT: u16 = 80;
/// Site addresses: hq, dr, ap.
pub const HQ: &str = "10.77.0.101";
pub const DR: &str = "10.77.0.102";
pub const AP: &str = "10.77.0.103";
/// Probe timing of the base configuration and the gossip period (the default).
pub const INTERVAL: Duration = Duration::from_millis(200);
pub const FALL: u32 = 2;
pub const RISE: u32 = 2;
pub const GOSSIP: Duration = Duration::from_millis(250);

/// The binary under test (`MERIDIAN_BIN` overrides the one cargo built).
pub fn bin() -> PathBuf {
    std::env::var_os("MERIDIAN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_meridian")))
}

/// What may differ between nodes' configurations.
#[derive(Clone, Debug)]
pub struct Tuning {
    pub interval: String,
    pub timeout: String,
    pub www_ttl: u32,
    pub key_file: String,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            interval: format!("{}ms", INTERVAL.as_millis()),
            timeout: "150ms".into(),
            www_ttl: 30,
            key_file: "cluster.key".into(),
        }
    }
}

/// The policy every node loads: `www` = hq then dr, `api` = ap then dr, failover, TCP checks.
fn config(name: &str, addr: Ipv4Addr, seeds: &[Ipv4Addr], t: &Tuning) -> String {
    let seeds: Vec<String> = seeds
        .iter()
        .map(|s| format!("\"{s}:{GOSSIP_PORT}\""))
        .collect();
    let check = format!(
        "{{ type = \"tcp\", port = {TARGET_PORT}, interval = \"{}\", timeout = \"{}\", rise = {RISE}, fall = {FALL} }}",
        t.interval, t.timeout
    );
    format!(
        r#"[server]
listen = ["{addr}:{DNS_PORT}"]
zones = "zones"
admin = "127.0.0.1:{ADMIN_PORT}"
admin_token_file = "{name}.token"
[health]
state_file = "{name}.state.json"
[site.hq]
links = {{ default = ["{HQ}"] }}
[site.dr]
links = {{ default = ["{DR}"] }}
[site.ap]
links = {{ default = ["{AP}"] }}
[service.www]
name = "www.c.test"
sites = ["hq", "dr"]
mode = "failover"
ttl = {}
check = {check}
[service.api]
name = "api.c.test"
sites = ["ap", "dr"]
mode = "failover"
ttl = 30
check = {check}
[cluster]
node = "{name}"
listen = "{addr}:{GOSSIP_PORT}"
seeds = [{}]
key_file = "{}"
vantage = {{ quorum = "majority", stale_after = "15s" }}
"#,
        t.www_ttl,
        seeds.join(", "),
        t.key_file
    )
}

/// One Meridian process in its namespace.
pub struct Node {
    pub host: Host,
    pub cfg: PathBuf,
    pub state_file: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    seeds: Vec<Ipv4Addr>,
}

impl Node {
    pub fn name(&self) -> &str {
        &self.host.name
    }

    pub fn dns(&self) -> SocketAddr {
        SocketAddr::from((self.host.addr, DNS_PORT))
    }

    /// The admin endpoint: loopback only, so reachable from the node's own namespace.
    pub fn admin(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], ADMIN_PORT))
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            self.child = None;
            self.print_log();
            panic!("{} exited: {status}", self.name());
        }
    }

    pub fn write_config(&self, t: &Tuning) {
        std::fs::write(
            &self.cfg,
            config(self.name(), self.host.addr, &self.seeds, t),
        )
        .unwrap();
    }

    /// Starts `meridian serve` (the configuration as written); returns at once.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = self
            .host
            .command(&bin())
            .args(["serve", "--config"])
            .arg(&self.cfg)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `ip netns exec`: {e}"));
        self.child = Some(child);
    }

    /// SIGKILL (the pid is Meridian's own: `ip netns exec` execs it).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let comm =
                std::fs::read_to_string(format!("/proc/{}/comm", c.id())).unwrap_or_default();
            assert_eq!(comm.trim(), "meridian", "the child is not Meridian itself");
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// `meridian ARGS --config CFG` inside the node's namespace: (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .host
            .command(&bin())
            .args(args)
            .arg("--config")
            .arg(&self.cfg)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// `meridian ARGS` that must succeed; its standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.cli(args);
        assert_eq!(code, 0, "{}: meridian {args:?}: {out}{err}", self.name());
        out
    }

    /// The admin endpoint's `/status`, fetched from the node's own namespace.
    pub fn status(&self) -> Value {
        let body = self
            .host
            .http_get(self.admin(), "/status")
            .unwrap_or_else(|e| panic!("{}: {e}", self.name()));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{}: {e}: {body}", self.name()))
    }

    /// Peer `peer`'s liveness in this node's view ("alive", "suspect", "dead"), None if unknown.
    pub fn liveness_of(&self, peer: &str) -> Option<String> {
        let s = self.host.http_get(self.admin(), "/status").ok()?;
        let v: Value = serde_json::from_str(&s).ok()?;
        v["cluster"]["peers"]
            .as_array()?
            .iter()
            .find(|p| p["node"] == peer)
            .and_then(|p| p["liveness"].as_str().map(String::from))
    }

    fn print_log(&self) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        eprintln!(
            "---- log of {} (last {} lines)",
            self.name(),
            lines.len() - from
        );
        for l in &lines[from..] {
            eprintln!("{l}");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _killed = c.kill();
            let _waited = c.wait();
        }
        if std::thread::panicking() {
            self.print_log();
        }
    }
}

/// A lab with sites hq, dr and ap (a TCP target each), a client and Meridian nodes.
pub struct World {
    pub dir: tempfile::TempDir,
    pub client: Host,
    client_sock: UdpSocket,
    next_id: AtomicU16,
    pub sites: Vec<Host>,
    pub targets: Vec<Option<Listener>>,
    // Dropped last: the nodes and listeners go before their namespaces.
    pub lab: Lab,
}

impl World {
    /// `tag`: a few letters unique among the tests of this binary.
    pub fn new(tag: &str) -> World {
        let mut lab = Lab::new(tag);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("zones")).unwrap();
        std::fs::write(
            dir.path().join("zones/c.test.zone"),
            "$TTL 60\n@ SOA ns hm 1 3600 600 86400 60\n@ NS ns\nns A 10.77.0.1\n",
        )
        .unwrap();
        for key in ["cluster.key", "other.key"] {
            let out = std::process::Command::new(bin())
                .args(["cluster", "keygen"])
                .arg(dir.path().join(key))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        let sites: Vec<Host> = [("hq", 101), ("dr", 102), ("ap", 103)]
            .iter()
            .map(|(n, a)| lab.host(n, *a))
            .collect();
        let targets = sites
            .iter()
            .map(|h| Some(Listener::start(h, TARGET_PORT)))
            .collect();
        let client = lab.host("cl", 200);
        let client_sock = client
            .enter(|| UdpSocket::bind("0.0.0.0:0"))
            .expect("client socket");
        client_sock
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        World {
            dir,
            client,
            client_sock,
            next_id: AtomicU16::new(1),
            sites,
            targets,
            lab,
        }
    }

    /// A node `name` at 10.77.0.`n` (configuration written, not started).
    pub fn node(&mut self, name: &str, n: u8, seeds: &[u8], t: &Tuning) -> Node {
        let host = self.lab.host(name, n);
        let node = Node {
            host,
            cfg: self.dir.path().join(format!("{name}.toml")),
            state_file: self.dir.path().join(format!("{name}.state.json")),
            log: self.dir.path().join(format!("{name}.log")),
            child: None,
            seeds: seeds.iter().map(|s| Ipv4Addr::new(10, 77, 0, *s)).collect(),
        };
        node.write_config(t);
        node
    }

    pub fn site(&self, name: &str) -> &Host {
        self.sites
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no site {name}"))
    }

    fn site_index(&self, name: &str) -> usize {
        self.sites.iter().position(|h| h.name == name).unwrap()
    }

    /// Close site `name`'s listener: connects are refused from now on.
    pub fn kill_target(&mut self, name: &str) {
        let i = self.site_index(name);
        if let Some(l) = self.targets[i].take() {
            l.stop();
        }
    }

    pub fn revive_target(&mut self, name: &str) {
        let i = self.site_index(name);
        assert!(self.targets[i].is_none(), "{name} already listens");
        self.targets[i] = Some(Listener::start(&self.sites[i], TARGET_PORT));
    }

    /// The A records (sorted) and their TTL in `node`'s answer for `name`, asked from the
    /// client; None if no reply within 300 ms.
    pub fn answer(&self, node: &Node, name: &str) -> Option<(Vec<String>, u32)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        self.client_sock
            .send_to(&m.to_vec().unwrap(), node.dns())
            .ok()?;
        let mut buf = [0u8; 2048];
        // Skip late replies to earlier queries that timed out.
        for _ in 0..8 {
            let (n, _) = self.client_sock.recv_from(&mut buf).ok()?;
            let Ok(r) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if r.metadata.id != id {
                continue;
            }
            let mut ttl = 0;
            let mut v: Vec<String> = r
                .answers
                .iter()
                .filter_map(|rr| match &rr.data {
                    RData::A(a) => {
                        ttl = rr.ttl;
                        Some(a.0.to_string())
                    }
                    _ => None,
                })
                .collect();
            v.sort();
            return Some((v, ttl));
        }
        None
    }

    /// The addresses only ("-" for no reply).
    pub fn addrs(&self, node: &Node, name: &str) -> String {
        self.answer(node, name)
            .map_or_else(|| "-".to_string(), |(v, _)| v.join(","))
    }

    /// Starts `node` and waits (at most 20 s) until it answers DNS.
    pub fn start(&self, node: &mut Node) -> Duration {
        let t = Instant::now();
        node.spawn();
        while self.answer(node, "ns.c.test.").is_none() {
            node.assert_running();
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{} did not answer DNS within 20 s",
                node.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t.elapsed()
    }

    /// Polls every node until each answers `name` with `want`; the time each took (from the
    /// call), or a panic naming what each still answered after `limit`.
    pub fn all_answer(
        &self,
        nodes: &[&Node],
        name: &str,
        want: &str,
        limit: Duration,
    ) -> Vec<Duration> {
        let t = Instant::now();
        let mut took: Vec<Option<Duration>> = vec![None; nodes.len()];
        while took.iter().any(Option::is_none) {
            for (i, n) in nodes.iter().enumerate() {
                if took[i].is_none() && self.addrs(n, name) == want {
                    took[i] = Some(t.elapsed());
                }
            }
            if t.elapsed() > limit && took.iter().any(Option::is_none) {
                let now: Vec<String> = nodes
                    .iter()
                    .map(|n| format!("{}: {}", n.name(), self.addrs(n, name)))
                    .collect();
                panic!("{name}: wanted {want} on every node within {limit:?}; now {now:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        took.into_iter().flatten().collect()
    }

    /// Asserts that `node` answers `name` with `want` on every query for `span`.
    pub fn holds(&self, node: &Node, name: &str, want: &str, span: Duration) -> usize {
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed() < span {
            let got = self.addrs(node, name);
            assert_eq!(
                got,
                want,
                "{}: {name} changed after {:?}",
                node.name(),
                t.elapsed()
            );
            n += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }
}

/// Polls `cond` every 50 ms; the time it took to hold, or None after `limit`.
pub fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    loop {
        if cond() {
            return Some(t.elapsed());
        }
        if t.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Path of a node's file in the world's folder.
pub fn in_dir(world: &World, file: &str) -> PathBuf {
    Path::new(world.dir.path()).join(file)
}
