//! `/metrics` end to end: the real binary with an admin endpoint, real UDP and TCP queries
//! (with and without ECS), a health transition (a loopback TCP listener stopped), one good and
//! one bad SIGHUP reload; two scrapes, and the named series must have moved by exactly what
//! was done between them. Both scrapes must pass `promtool check metrics` (Debian package
//! `prometheus`; the test fails when promtool is missing). The director's per-service and
//! per-real-server families, which need IPVS to appear in a live scrape (the VM tests read
//! them), go through promtool from a status built here.
#![allow(clippy::disallowed_methods)] // a test harness measures wall time

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};

#[path = "support/dnsclient.rs"]
mod dnsclient;

use dnsclient::{Proto, ecs_body, exchange, free_port, query};

/// A loopback TCP listener that accepts (and closes) until stopped; at most 120 s.
struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    /// Listen on `addr`; None when the port is taken (someone else on the host took it
    /// since it was found free).
    fn start(addr: SocketAddr) -> Option<Backend> {
        let l = TcpListener::bind(addr).ok()?;
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                if l.accept().is_err() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Some(Backend {
            stop,
            thread: Some(thread),
        })
    }

    /// Stop accepting and close the listening socket.
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

/// The server under test and the file its log goes to.
struct Server {
    child: Child,
    log: std::path::PathBuf,
}

impl Server {
    /// Why the server cannot be waited for any longer: it exited (with its log), or the
    /// limit passed (with its log and the last scrape).
    fn report(&mut self, last: &str) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        match self.child.try_wait() {
            Ok(Some(status)) => format!("the server exited ({status}); its log:\n{log}"),
            _ => format!("its log:\n{log}\n--- last scrape ---\n{last}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _waited = self.child.wait();
    }
}

fn meridian_bin() -> std::ffi::OsString {
    std::env::var_os("MERIDIAN_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_meridian").into())
}

fn hup(child: &Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
}

/// GET /metrics: (content type, body); None when the endpoint does not answer (yet).
fn try_scrape(admin: SocketAddr) -> Option<(String, String)> {
    let mut s = std::net::TcpStream::connect(admin).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    let ctype = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-type")
            .then(|| v.trim().to_string())
    })?;
    Some((ctype, body.to_string()))
}

fn scrape(admin: SocketAddr) -> (String, String) {
    try_scrape(admin).unwrap_or_else(|| panic!("no metrics from {admin}"))
}

/// Every sample line: series (name with labels, as rendered) -> value.
fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// `promtool check metrics` on `body`; panics with its report when it objects.
fn promtool(body: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool not runnable ({e}): install the Debian package `prometheus`")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- scrape ---\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Poll the metrics until `series` reaches at least `want`.
/// On failure, says whether the server is still running and shows its log and the last
/// scrape.
fn wait_metric(server: &mut Server, admin: SocketAddr, series: &str, want: f64, limit: Duration) {
    let t = Instant::now();
    let mut last = String::from("(none answered)");
    loop {
        // The endpoint may not listen yet while the server starts.
        let body = try_scrape(admin).map(|(_, body)| body);
        let got = body
            .as_deref()
            .and_then(|b| samples(b).get(series).copied())
            .unwrap_or(0.0);
        if got >= want {
            return;
        }
        if let Some(b) = body {
            last = b;
        }
        if t.elapsed() >= limit || matches!(server.child.try_wait(), Ok(Some(_))) {
            panic!(
                "{series}: wanted {want} within {limit:?}, still {got}; {}",
                server.report(&last)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One query; the rcode and the A addresses of the answer.
fn ask(dns: SocketAddr, proto: Proto, name: &str, t: RecordType, ecs: bool) -> (u8, Vec<IpAddr>) {
    let body = ecs_body("20.0.9.0".parse().unwrap(), 24);
    let q = query(7, name, t, ecs.then_some(body.as_slice()));
    let resp = exchange(proto, [127, 0, 0, 1].into(), dns, &q);
    let r = Message::from_vec(&resp).unwrap();
    let addrs = r
        .answers
        .iter()
        .filter_map(|rr| match &rr.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect();
    (dnsclient::rcode(&resp), addrs)
}

fn config(dns: u16, admin: u16, check: u16, ttl: u32, broken: bool) -> String {
    format!(
        r#"[server]
listen = ["127.0.0.1:{dns}"]
zones = "zones"
admin = "127.0.0.1:{admin}"
udp_threads = 1
[site.a]
links = {{ default = ["127.0.0.41"] }}
[site.b]
links = {{ default = ["127.0.0.42"] }}
[service.www]
name = "www.m.test"
ttl = {ttl}
sites = ["a", "b"]
mode = "failover"
check = {{ type = "tcp", port = {check}, interval = "200ms", timeout = "100ms", rise = 1, fall = 1 }}
{}"#,
        if broken { "bogus_key = 1\n" } else { "" }
    )
}

#[test]
fn metrics_move_and_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(
        dir.path().join("zones/m.test.zone"),
        "$TTL 60\n@ SOA ns hm 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n",
    )
    .unwrap();
    let lo: IpAddr = [127, 0, 0, 1].into();
    let dns_port = free_port(&[lo]);
    // A port just probed is free again: ask until the admin port differs.
    let admin_port = (0..20)
        .map(|_| free_port(&[lo]))
        .find(|&p| p != dns_port)
        .unwrap();
    // The backends listen before the configuration names their port: a port found free can
    // be taken by another process on the host before it is bound, so try a few.
    let (check_port, a, _b) = (0..10)
        .find_map(|_| {
            let port = free_port(&[[127, 0, 0, 41].into(), [127, 0, 0, 42].into()]);
            let a = Backend::start(([127, 0, 0, 41], port).into())?;
            let b = Backend::start(([127, 0, 0, 42], port).into())?;
            Some((port, a, b))
        })
        .expect("no port free on 127.0.0.41 and .42 in 10 tries");
    let cfg = dir.path().join("meridian.toml");
    std::fs::write(&cfg, config(dns_port, admin_port, check_port, 30, false)).unwrap();
    let dns: SocketAddr = (lo, dns_port).into();
    let admin: SocketAddr = (lo, admin_port).into();
    let log = dir.path().join("stderr.log");
    let mut server = Server {
        child: Command::new(meridian_bin())
            .args(["serve", "--config"])
            .arg(&cfg)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log,
    };
    // Up: both probed up, so www answers with site a.
    wait_metric(
        &mut server,
        admin,
        "meridian_health_probes_total{check=\"tcp\",result=\"up\"}",
        2.0,
        Duration::from_secs(20),
    );
    let a41: IpAddr = [127, 0, 0, 41].into();
    let t = Instant::now();
    while ask(dns, Proto::Udp, "www.m.test.", RecordType::A, false).1 != [a41] {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "www never answered a"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (ctype, first) = scrape(admin);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    promtool(&first);
    let before = samples(&first);

    // Between the scrapes: UDP and TCP queries, with and without ECS.
    let mut to_a = 0.0;
    let (mut udp_a, mut udp_nx) = (0.0, 0.0);
    for i in 0..40 {
        let ecs = i % 4 == 0; // 10 with ECS
        let (rcode, addrs) = ask(dns, Proto::Udp, "www.m.test.", RecordType::A, ecs);
        assert_eq!((rcode, addrs.as_slice()), (0, [a41].as_slice()));
        to_a += 1.0;
        udp_a += 1.0;
    }
    for _ in 0..4 {
        assert_eq!(
            ask(dns, Proto::Udp, "nx.m.test.", RecordType::A, false).0,
            3
        );
        udp_nx += 1.0;
    }
    for _ in 0..3 {
        let (rcode, addrs) = ask(dns, Proto::Tcp, "www.m.test.", RecordType::A, true);
        assert_eq!((rcode, addrs.as_slice()), (0, [a41].as_slice()));
        to_a += 1.0;
    }
    for _ in 0..2 {
        assert_eq!(
            ask(dns, Proto::Tcp, "ns.m.test.", RecordType::AAAA, false).0,
            0
        );
    }

    // A health transition: a's listener goes; answers move to b.
    a.kill();
    wait_metric(
        &mut server,
        admin,
        "meridian_health_transitions_total{check=\"tcp\",to=\"down\"}",
        before
            .get("meridian_health_transitions_total{check=\"tcp\",to=\"down\"}")
            .copied()
            .unwrap_or(0.0)
            + 1.0,
        Duration::from_secs(5),
    );
    let (mut to_b, mut more_a) = (0.0, 0.0);
    let t = Instant::now();
    while to_b < 3.0 {
        assert!(t.elapsed() < Duration::from_secs(5), "www never moved to b");
        let (rcode, addrs) = ask(dns, Proto::Udp, "www.m.test.", RecordType::A, false);
        assert_eq!(rcode, 0);
        match addrs.as_slice() {
            [x] if *x == a41 => more_a += 1.0,
            [x] if *x == IpAddr::from([127, 0, 0, 42]) => to_b += 1.0,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    udp_a += to_b + more_a;
    to_a += more_a;

    // Reloads: one good (generation 2), one refused.
    std::fs::write(&cfg, config(dns_port, admin_port, check_port, 20, false)).unwrap();
    hup(&server.child);
    wait_metric(
        &mut server,
        admin,
        "meridian_config_generation",
        2.0,
        Duration::from_secs(10),
    );
    std::fs::write(&cfg, config(dns_port, admin_port, check_port, 20, true)).unwrap();
    hup(&server.child);
    wait_metric(
        &mut server,
        admin,
        "meridian_reloads_total{result=\"invalid\"}",
        1.0,
        Duration::from_secs(10),
    );

    let (_, second) = scrape(admin);
    promtool(&second);
    let after = samples(&second);
    let delta = |series: &str| {
        after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
    };
    let udp_queries = udp_a + udp_nx;
    for (series, want) in [
        (
            "meridian_dns_queries_total{transport=\"udp\",qtype=\"A\"}",
            udp_queries,
        ),
        (
            "meridian_dns_queries_total{transport=\"tcp\",qtype=\"A\"}",
            3.0,
        ),
        (
            "meridian_dns_queries_total{transport=\"tcp\",qtype=\"AAAA\"}",
            2.0,
        ),
        (
            "meridian_dns_responses_total{transport=\"udp\",qtype=\"A\",rcode=\"NOERROR\"}",
            udp_a,
        ),
        (
            "meridian_dns_responses_total{transport=\"udp\",qtype=\"A\",rcode=\"NXDOMAIN\"}",
            udp_nx,
        ),
        (
            "meridian_dns_responses_total{transport=\"tcp\",qtype=\"A\",rcode=\"NOERROR\"}",
            3.0,
        ),
        (
            "meridian_dns_responses_total{transport=\"tcp\",qtype=\"AAAA\",rcode=\"NOERROR\"}",
            2.0,
        ),
        ("meridian_dns_ecs_queries_total", 10.0 + 3.0),
        (
            "meridian_dns_service_answers_total{service=\"www\",site=\"a\",link=\"default\"}",
            to_a,
        ),
        (
            "meridian_dns_service_answers_total{service=\"www\",site=\"b\",link=\"default\"}",
            to_b,
        ),
        ("meridian_dns_service_fallbacks_total{service=\"www\"}", 0.0),
        (
            "meridian_dns_answer_duration_seconds_count{transport=\"tcp\"}",
            5.0,
        ),
        (
            "meridian_health_transitions_total{check=\"tcp\",to=\"down\"}",
            1.0,
        ),
        ("meridian_reloads_total{result=\"ok\"}", 1.0),
        ("meridian_reloads_total{result=\"invalid\"}", 1.0),
        ("meridian_reloads_total{result=\"failed\"}", 0.0),
        ("meridian_config_generation", 1.0),
    ] {
        assert_eq!(delta(series), want, "{series}\n--- scrape ---\n{second}");
    }
    // One UDP batch in 16 is timed; each query went alone (sequential), so a batch each.
    let timed = delta("meridian_dns_answer_duration_seconds_count{transport=\"udp\"}");
    let lo_t = (udp_queries / 16.0).floor();
    assert!(
        (lo_t..=lo_t + 1.0).contains(&timed),
        "{timed} UDP answers timed of {udp_queries}"
    );
    assert!(delta("meridian_health_probes_total{check=\"tcp\",result=\"down\"}") >= 1.0);
    // Every probe is timed: the histogram counts what the counters count (give or take one
    // probe finishing while the scrape is rendered). The window can be shorter than the
    // 200 ms interval, so no more than the down probe is certain.
    let timed = delta("meridian_health_probe_duration_seconds_count{check=\"tcp\"}");
    let run = delta("meridian_health_probes_total{check=\"tcp\",result=\"down\"}")
        + delta("meridian_health_probes_total{check=\"tcp\",result=\"up\"}");
    assert!(
        timed >= 1.0 && (timed - run).abs() <= 1.0,
        "{timed} timed, {run} run"
    );
    assert_eq!(after.get("meridian_config_generation"), Some(&2.0));
    drop(server);
}

/// The director's families (per virtual service and real server) as `/metrics` renders them
/// pass promtool too: a status with a TCP service (one real server up, one draining, one not
/// in the kernel) and a firewall-mark service.
#[test]
fn director_metrics_pass_promtool() {
    use meridian::config::{Protocol, VirtualKey};
    use meridian::lvs::status::{RealState, RealStatus, ServiceStatus};
    use meridian::lvs::{DirectorStatus, Stats, VipLoad};

    let stats = |n: u64| Stats {
        conns: n,
        inpkts: 10 * n,
        outpkts: 0,
        inbytes: 1000 * n,
        outbytes: 0,
        cps: 1,
        inpps: 2,
        outpps: 0,
        inbps: 300,
        outbps: 0,
    };
    let real = |addr: &str, state, weight, n| RealStatus {
        addr: addr.parse().unwrap(),
        state,
        weight,
        configured_weight: 5,
        active_conns: 3,
        inactive_conns: 1,
        persist_conns: 0,
        stats: stats(n),
        drain: None,
    };
    let st = DirectorStatus {
        services: vec![
            ServiceStatus {
                key: VirtualKey::Addr {
                    protocol: Protocol::Tcp,
                    addr: "10.0.0.1:80".parse().unwrap(),
                },
                up: Some(true),
                load: VipLoad {
                    healthy_weight: 5,
                    total_weight: 10,
                    active_conns: 6,
                    conn_rate: 1,
                    capacity: 100,
                    ..VipLoad::default()
                },
                present: true,
                stats: stats(42),
                reals: vec![
                    real("10.1.0.1:80", RealState::Up, Some(5), 40),
                    real("10.1.0.2:80", RealState::Draining, Some(0), 2),
                    real("10.1.0.3:80", RealState::Removed, None, 0),
                ],
            },
            ServiceStatus {
                key: VirtualKey::Fwmark {
                    fwmark: 7,
                    ipv6: false,
                },
                up: None,
                load: VipLoad::default(),
                present: false,
                stats: Stats::default(),
                reals: vec![],
            },
        ],
    };
    let text = st.prometheus();
    for line in [
        "meridian_lvs_service_connections_total{service=\"TCP 10.0.0.1:80\"} 42\n",
        "meridian_lvs_service_packets_in_total{service=\"TCP 10.0.0.1:80\"} 420\n",
        "meridian_lvs_service_bytes_in_total{service=\"TCP 10.0.0.1:80\"} 42000\n",
        "meridian_lvs_service_connections_total{service=\"FWM 7\"} 0\n",
        "meridian_lvs_real_connections_total{service=\"TCP 10.0.0.1:80\",real=\"10.1.0.1:80\"} 40\n",
        "meridian_lvs_real_bytes_in_total{service=\"TCP 10.0.0.1:80\",real=\"10.1.0.1:80\"} 40000\n",
        "meridian_lvs_real_draining{service=\"TCP 10.0.0.1:80\",real=\"10.1.0.2:80\"} 1\n",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(
        !text
            .contains("meridian_lvs_real_weight{service=\"TCP 10.0.0.1:80\",real=\"10.1.0.3:80\"}")
    );
    assert!(!text.contains("meridian_lvs_service_up{service=\"FWM 7\"}"));
    promtool(&text);
}
