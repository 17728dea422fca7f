//! Answers follow health, end to end: real TCP and HTTP servers on loopback, the real binary,
//! real DNS queries. A killed server moves the answer within fall x interval + timeout (+1 s),
//! its return moves it back within rise x interval + timeout (+1 s); overrides set through
//! `meridian override` change answers, show in `explain`, and survive a restart.
#![allow(clippy::disallowed_methods)] // a test harness measures wall time

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[path = "support/dnsclient.rs"]
mod dnsclient;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};

/// A loopback server that accepts and answers until stopped; stopping closes the socket.
struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    /// `http_status`: None = plain TCP (accept and close), Some(code) = answer HTTP.
    fn start(addr: SocketAddr, http_status: Option<u16>) -> Backend {
        let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                match l.accept() {
                    Ok((mut c, _)) => {
                        if let Some(code) = http_status {
                            c.set_nonblocking(false).unwrap();
                            c.set_read_timeout(Some(Duration::from_millis(500)))
                                .unwrap();
                            let mut buf = [0u8; 2048];
                            let _n = c.read(&mut buf);
                            let body = if code == 200 { "ok" } else { "broken" };
                            let _w = write!(
                                c,
                                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Backend {
            stop,
            thread: Some(thread),
        }
    }

    fn kill(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _k = self.0.kill();
        let _w = self.0.wait();
    }
}

/// A port free for UDP and TCP on `ip` (retried: another process may hold the TCP one).
fn free_port(ip: [u8; 4]) -> u16 {
    dnsclient::free_port(&[std::net::IpAddr::from(ip)])
}

fn answer(server: SocketAddr, name: &str) -> Option<Vec<String>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut m = Message::new(4321, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    sock.send_to(&m.to_vec().unwrap(), server).ok()?;
    let mut buf = [0u8; 2048];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let r = Message::from_vec(&buf[..n]).ok()?;
    let mut v: Vec<String> = r
        .answers
        .iter()
        .filter_map(|rr| match &rr.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    v.sort();
    Some(v)
}

/// Poll until the answer equals `want`; returns how long it took.
fn wait_for(server: SocketAddr, name: &str, want: &[&str], limit: Duration) -> Duration {
    let t = Instant::now();
    loop {
        let got = answer(server, name);
        if got
            .as_deref()
            .is_some_and(|g| g.iter().map(String::as_str).eq(want.iter().copied()))
        {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < limit,
            "{name}: wanted {want:?} within {limit:?}, still {got:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The binary as on a minimal host without system CA certificates: plain-http health checks
/// and the admin clients (`explain`, `override`) must not need them.
fn meridian() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meridian"));
    c.env("SSL_CERT_FILE", "/nonexistent/ca-certificates.crt")
        .env("SSL_CERT_DIR", "/nonexistent");
    c
}

fn cli(config: &str, args: &[&str]) -> (i32, String, String) {
    let out = meridian()
        .args(args)
        .args(["--config", config])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn start(cfg: &std::path::Path, dns: SocketAddr) -> Server {
    let child = meridian()
        .args(["serve", "--config"])
        .arg(cfg)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let t = Instant::now();
    while answer(dns, "ns.h.test.").is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
    }
    server
}

/// A folder with `zones/h.test.zone` (the zone both tests serve).
fn zone_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(
        dir.path().join("zones/h.test.zone"),
        "$TTL 60\n@ SOA ns hm 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n",
    )
    .unwrap();
    dir
}

#[test]
fn answers_follow_health_and_overrides() {
    let dir = zone_dir();
    let port = free_port([127, 0, 0, 21]);
    let hport = free_port([127, 0, 0, 23]);
    let dns_port = free_port([127, 0, 0, 1]);
    let admin_port = free_port([127, 0, 0, 1]);
    let cfg = dir.path().join("meridian.toml");
    let cfg_s = cfg.to_str().unwrap().to_string();
    std::fs::write(
        &cfg,
        format!(
            r#"[server]
listen = ["127.0.0.1:{dns_port}"]
zones = "zones"
admin = "127.0.0.1:{admin_port}"
[health]
state_file = "state.json"
[site.a]
links = {{ default = ["127.0.0.21"] }}
[site.b]
links = {{ default = ["127.0.0.22"] }}
[site.c]
links = {{ default = ["127.0.0.23"] }}
[site.d]
links = {{ default = ["127.0.0.24"] }}
[service.www]
name = "www.h.test"
sites = ["a", "b"]
mode = "failover"
check = {{ type = "tcp", port = {port}, interval = "200ms", timeout = "100ms", rise = 2, fall = 2 }}
[service.web]
name = "web.h.test"
sites = ["c", "d"]
mode = "failover"
check = {{ type = "http", port = {hport}, path = "/healthz", expect = 200, body = "ok", interval = "200ms", timeout = "150ms", rise = 2, fall = 2 }}
"#
        ),
    )
    .unwrap();
    let a = Backend::start(([127, 0, 0, 21], port).into(), None);
    let _b = Backend::start(([127, 0, 0, 22], port).into(), None);
    let c = Backend::start(([127, 0, 0, 23], hport).into(), Some(200));
    let _d = Backend::start(([127, 0, 0, 24], hport).into(), Some(200));
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let server = start(&cfg, dns);
    wait_for(dns, "www.h.test.", &["127.0.0.21"], Duration::from_secs(5));
    wait_for(dns, "web.h.test.", &["127.0.0.23"], Duration::from_secs(5));

    // TCP: kill a -> b within fall*interval + timeout + 1 s; back within rise*interval + timeout + 1 s.
    a.kill();
    let down = wait_for(
        dns,
        "www.h.test.",
        &["127.0.0.22"],
        Duration::from_millis(2 * 200 + 100 + 1000),
    );
    let a = Backend::start(([127, 0, 0, 21], port).into(), None);
    let up = wait_for(
        dns,
        "www.h.test.",
        &["127.0.0.21"],
        Duration::from_millis(2 * 200 + 100 + 1000),
    );
    assert!(
        down >= Duration::from_millis(150),
        "moved after {down:?}: a single failed probe must not move it"
    );
    eprintln!("tcp: down after {down:?}, up after {up:?}");

    // HTTP: a 500 is down.
    c.kill();
    let c500 = Backend::start(([127, 0, 0, 23], hport).into(), Some(500));
    wait_for(
        dns,
        "web.h.test.",
        &["127.0.0.24"],
        Duration::from_millis(2 * 200 + 150 + 1000),
    );
    c500.kill();
    let _c = Backend::start(([127, 0, 0, 23], hport).into(), Some(200));
    wait_for(
        dns,
        "web.h.test.",
        &["127.0.0.23"],
        Duration::from_millis(2 * 200 + 150 + 1000),
    );

    // Overrides through the CLI and the admin endpoint.
    let (code, out, err) = cli(&cfg_s, &["override", "set", "site:a", "down"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("site:a") && out.contains("down"), "{out}");
    wait_for(dns, "www.h.test.", &["127.0.0.22"], Duration::from_secs(2));
    let (code, _, err) = cli(&cfg_s, &["override", "set", "site:mars", "down"]);
    assert_ne!(code, 0, "an unknown site must be refused: {err}");
    let (_, out, _) = cli(&cfg_s, &["explain", "--client", "127.0.0.1", "www.h.test"]);
    assert!(
        out.contains("live") && out.lines().any(|l| l.contains(" a ") && l.contains("DOWN")),
        "{out}"
    );

    // The override survives a restart (state file).
    drop(server);
    let server = start(&cfg, dns);
    wait_for(dns, "www.h.test.", &["127.0.0.22"], Duration::from_secs(5));
    let (code, out, _) = cli(&cfg_s, &["override", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("site:a"), "{out}");
    let (code, _, err) = cli(&cfg_s, &["override", "clear", "site:a"]);
    assert_eq!(code, 0, "{err}");
    wait_for(dns, "www.h.test.", &["127.0.0.21"], Duration::from_secs(3));

    // The status page and metrics are served.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", admin_port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("meridian_dns_queries_total{transport=\"udp\""),
        "{text}"
    );
    drop(server);
    drop(a);
}

/// Queries `name` every 5 ms until stopped; counts (no reply, empty answer, answers).
struct QueryStream {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(usize, usize, usize)>>,
}

impl QueryStream {
    fn start(dns: SocketAddr, name: &'static str) -> QueryStream {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut none, mut empty, mut full) = (0, 0, 0);
            let deadline = Instant::now() + Duration::from_secs(60);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                match answer(dns, name) {
                    None => none += 1,
                    Some(v) if v.is_empty() => empty += 1,
                    Some(_) => full += 1,
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (none, empty, full)
        });
        QueryStream {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (usize, usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or((0, 0, 0), |t| t.join().unwrap())
    }
}

/// Start-up (issue: empty answers after every start) and restored probe states: healthy
/// targets count as up until their first result, so a restart under a query stream gives no
/// empty answer; a target that was down when the process stopped is not answered after the
/// restart, before any new probe of it has run.
#[test]
fn restarts_answer_at_once_and_remember_down_targets() {
    let dir = zone_dir();
    let wport = free_port([127, 0, 0, 31]);
    let aport = free_port([127, 0, 0, 33]);
    let dns_port = free_port([127, 0, 0, 1]);
    let cfg = dir.path().join("meridian.toml");
    // Long intervals: the first probe of a target comes up to `interval` after a start, so
    // anything answered before that comes from the start state or the state file.
    let write_cfg = |api_interval: &str| {
        std::fs::write(
            &cfg,
            format!(
                r#"[server]
listen = ["127.0.0.1:{dns_port}"]
zones = "zones"
[health]
state_file = "state.json"
[site.a]
links = {{ default = ["127.0.0.31"] }}
[site.b]
links = {{ default = ["127.0.0.32"] }}
[site.c]
links = {{ default = ["127.0.0.33"] }}
[site.d]
links = {{ default = ["127.0.0.34"] }}
[service.www]
name = "www.h.test"
sites = ["a", "b"]
fallback = "none"
check = {{ type = "tcp", port = {wport}, interval = "10s", timeout = "200ms", rise = 2, fall = 2 }}
[service.api]
name = "api.h.test"
sites = ["c", "d"]
fallback = "none"
check = {{ type = "tcp", port = {aport}, interval = "{api_interval}", timeout = "100ms", rise = 2, fall = 1 }}
"#
            ),
        )
        .unwrap();
    };
    write_cfg("200ms");
    let _a = Backend::start(([127, 0, 0, 31], wport).into(), None);
    let _b = Backend::start(([127, 0, 0, 32], wport).into(), None);
    let c = Backend::start(([127, 0, 0, 33], aport).into(), None);
    let _d = Backend::start(([127, 0, 0, 34], aport).into(), None);
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();

    let stream = QueryStream::start(dns, "www.h.test.");
    let server = start(&cfg, dns);
    std::thread::sleep(Duration::from_millis(500));
    drop(server);
    let server = start(&cfg, dns);
    std::thread::sleep(Duration::from_millis(500));
    let (none, empty, full) = stream.finish();
    eprintln!("query stream over two starts: {full} answered, {empty} empty, {none} no reply");
    assert_eq!(
        empty, 0,
        "healthy targets must be answered from the first query"
    );
    assert!(full > 20, "only {full} answers");

    // c goes down; its state reaches the state file (saved at most 1 s after a change).
    c.kill();
    wait_for(dns, "api.h.test.", &["127.0.0.34"], Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(1500));
    drop(server);
    // Restart with a long interval: no probe of c for a while, yet c is not answered.
    write_cfg("10s");
    let _server = start(&cfg, dns);
    let t = Instant::now();
    let mut seen = 0;
    while t.elapsed() < Duration::from_millis(700) {
        let got = answer(dns, "api.h.test.");
        assert_eq!(
            got.as_deref(),
            Some(&["127.0.0.34".to_string()][..]),
            "a target down before the restart must stay out"
        );
        seen += 1;
    }
    assert!(seen > 10);
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(
        state.contains("127.0.0.33") && state.contains("\"down\""),
        "{state}"
    );
}
