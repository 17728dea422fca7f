//! The status page in headless Chromium, against the real binary: the page loads and draws
//! the sites × links grid; a target turns down on the page within seconds of its backend
//! being killed; an override set from the page's form (after a wrong token is refused with
//! the API's message) reaches `/status` and changes the DNS answer; names crafted as markup
//! in the policy file render as text. A second case feeds the page a fixed `/status` with
//! the parts a loopback server cannot have (LVS, cluster peers with a divergent digest,
//! anycast prefixes). Screenshots go to target/status-page.png and
//! target/status-page-full.png.

#![allow(clippy::disallowed_methods)] // real processes and sockets: wall-clock waits

#[path = "support/browser.rs"]
mod browser;
#[path = "support/dnsclient.rs"]
mod dnsclient;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};
use serde_json::Value;

use browser::{Browser, eventually};

const TOKEN: &str = "status-page-test-token-0123456789";
/// Site and link names that would be markup if the page ever parsed data as HTML.
const EVIL_SITE: &str = r#"x" onmouseover="alert(1)"#;
const EVIL_LINK: &str = "<img src=x onerror=alert(1)>";
/// How soon the page must show a change: its refresh period (3 s), the probes' fall
/// (2 × 200 ms) and slack for a loaded machine.
const SHOWN_WITHIN: Duration = Duration::from_secs(8);

fn bin() -> PathBuf {
    std::env::var_os("MERIDIAN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_meridian")))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// A TCP backend on loopback that accepts and closes connections until killed.
struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(listener: TcpListener) -> Backend {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let deadline = Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((conn, _)) => drop(conn),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }
        });
        Backend {
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket: new connections are refused from now on.
    fn kill(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Listeners on 127.0.0.1, .2 and .3 sharing one port.
fn backends() -> (u16, Vec<Backend>) {
    for _ in 0..50 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        let rest: Vec<_> = ["127.0.0.2", "127.0.0.3"]
            .iter()
            .filter_map(|ip| TcpListener::bind((*ip, port)).ok())
            .collect();
        if rest.len() == 2 {
            let all = std::iter::once(first).chain(rest).map(Backend::start);
            return (port, all.collect());
        }
    }
    panic!("no port free on 127.0.0.1-3");
}

/// `meridian serve` on a config in a temp dir; killed on drop.
struct Server {
    child: Child,
    log: PathBuf,
    dns: SocketAddr,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(backend_port: u16) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let dns = SocketAddr::new(lo, dnsclient::free_port(&[lo]));
        let admin = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        std::fs::create_dir(dir.path().join("zones")).unwrap();
        std::fs::write(
            dir.path().join("zones/page.test.zone"),
            "$ORIGIN page.test.\n$TTL 300\n@ IN SOA ns hm 1 3600 600 86400 60\n  IN NS ns\nns IN A 127.0.0.53\n",
        )
        .unwrap();
        let token = dir.path().join("admin.token");
        std::fs::write(&token, TOKEN).unwrap();
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let check = format!(
            r#"{{ type = "tcp", port = {backend_port}, interval = "200ms", timeout = "150ms", rise = 2, fall = 2 }}"#
        );
        let cfg = format!(
            r#"[server]
listen = ["{dns}"]
zones = "zones"
admin = "{admin}"
admin_token_file = "admin.token"

[health]
state_file = "state.json"

[site.hq]
links = {{ default = ["127.0.0.1"] }}

[site.'{EVIL_SITE}']
links = {{ default = ["127.0.0.2"], "{EVIL_LINK}" = ["127.0.0.3"] }}

[isp.'{EVIL_LINK}']
cidrs = ["10.99.0.0/16"]

[service.www]
name = "www.page.test"
ttl = 5
sites = ["hq", '{EVIL_SITE}']
mode = "failover"
check = {check}

[service.api]
name = "api.page.test"
ttl = 5
sites = ["hq", '{EVIL_SITE}']
mode = "all"
check = {check}
"#
        );
        let path = dir.path().join("meridian.toml");
        std::fs::write(&path, cfg).unwrap();
        let log = dir.path().join("meridian.log");
        let child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin().display()));
        Server {
            child,
            log,
            dns,
            admin,
            _dir: dir,
        }
    }

    /// Waits (20 s at most) until `/status` answers; panics with the log if the server exits.
    async fn ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("meridian exited ({exit}):\n{}", self.log_tail());
            }
            if get_json(&self.url("/status")).await.is_ok() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "/status did not answer within 20 s:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _read = f.read_to_string(&mut s);
        }
        s.get(s.len().saturating_sub(4000)..)
            .unwrap_or_default()
            .to_string()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The A records of `name`, sorted.
    fn answers(&self, name: &str) -> Vec<Ipv4Addr> {
        let q = dnsclient::query(7, name, RecordType::A, None);
        let resp = dnsclient::exchange(
            dnsclient::Proto::Udp,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            self.dns,
            &q,
        );
        let m = Message::from_vec(&resp).unwrap();
        let mut out: Vec<Ipv4Addr> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        out.sort();
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

async fn get_json(url: &str) -> Result<Value, String> {
    let r = reqwest::get(url).await.map_err(|e| e.to_string())?;
    let text = r.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// The `class` of the grid chip for `addr`, checked to be one of the state classes.
async fn chip(b: &Browser, addr: &str) -> Result<String, String> {
    b.class_of(&format!("#grid .chip[data-addr=\"{addr}\"]"))
        .await
        .ok_or_else(|| format!("no chip for {addr}"))
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_follows_health_and_sets_overrides_in_chromium() {
    let (port, mut backends) = backends();
    let mut server = Server::start(port);
    server.ready().await;
    let b = Browser::start(1360, 1000).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        AssertUnwindSafe(scenario(&b, &server, &mut backends)).catch_unwind(),
    )
    .await;
    let logs = format!(
        "--- meridian log ---\n{}\n--- chromedriver log ---\n{}",
        server.log_tail(),
        b.log_tail()
    );
    b.close().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => {
            eprintln!("{logs}");
            std::panic::resume_unwind(panic);
        }
        Err(_) => panic!("the scenario did not finish within 120 s\n{logs}"),
    }
}

async fn scenario(b: &Browser, server: &Server, backends: &mut [Backend]) {
    let started = Instant::now();
    b.client
        .goto(&server.url("/"))
        .await
        .unwrap_or_else(|e| panic!("load the page: {e}"));
    assert_eq!(b.client.title().await.unwrap(), "Meridian status");

    // The grid: every target up, the crafted names shown as text.
    let (_, t) = eventually("all three targets up on the page", SHOWN_WITHIN, || async {
        let mut seen = Vec::new();
        for a in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            let c = chip(b, a).await?;
            if !c.split(' ').any(|x| x == "up") {
                return Err(format!("{a}: {c}"));
            }
            seen.push(c);
        }
        Ok(seen)
    })
    .await;
    println!("page shows every target up after {t:?} (page load + first probes)");
    let grid = b.text_of("#grid").await.unwrap();
    assert!(grid.contains(EVIL_SITE), "site name shown as text: {grid}");
    assert!(grid.contains(EVIL_LINK), "link name shown as text: {grid}");
    let injected = b
        .js("return document.querySelectorAll('[onerror], [onmouseover], img').length")
        .await;
    assert_eq!(injected, 0, "markup from a name reached the DOM");
    let site_cell = b
        .js("return [...document.querySelectorAll('#grid th.site')].map(e => e.textContent.trim())")
        .await;
    assert_eq!(site_cell, serde_json::json!(["hq", EVIL_SITE]));
    assert_eq!(server.answers("www.page.test."), vec![ip("127.0.0.1")]);
    let refreshed = b.text_of("#refreshed").await.unwrap();
    assert!(refreshed.starts_with("updated "), "{refreshed}");

    // Kill hq's backend: the page turns its chip down within seconds.
    backends[0].kill();
    let killed = Instant::now();
    let (class, _) = eventually("127.0.0.1 shown down", SHOWN_WITHIN, || async {
        let c = chip(b, "127.0.0.1").await?;
        if c.split(' ').any(|x| x == "down") {
            Ok(c)
        } else {
            Err(c)
        }
    })
    .await;
    let shown = killed.elapsed();
    println!("page shows 127.0.0.1 down {shown:?} after its backend was killed ({class})");
    assert_eq!(
        b.class_of("#grid td.cell[data-site=\"hq\"]")
            .await
            .as_deref(),
        Some("cell down")
    );
    eventually(
        "the change listed under recent changes",
        SHOWN_WITHIN,
        || async {
            let text = b.text_of("#changes").await.unwrap_or_default();
            if text.contains("hq/default 127.0.0.1") && text.contains("probe") {
                Ok(())
            } else {
                Err(text)
            }
        },
    )
    .await;
    assert_eq!(server.answers("www.page.test."), vec![ip("127.0.0.2")]);

    // An override from the form: a wrong token first.
    b.type_into("#ov-target", "site:hq").await;
    b.client
        .find(fantoccini::Locator::Css("#ov-state"))
        .await
        .unwrap()
        .select_by_value("up")
        .await
        .unwrap();
    b.type_into("#ov-reason", "backend replaced, page test")
        .await;
    b.type_into("#ov-expires", "30m").await;
    b.type_into("#ov-token", "not-the-token-at-all").await;
    b.click("#ov-submit").await;
    let (err, _) = eventually("the 401 shown", SHOWN_WITHIN, || async {
        let t = b.text_of("#override-result").await.unwrap_or_default();
        if t.contains("401") { Ok(t) } else { Err(t) }
    })
    .await;
    assert!(err.contains("missing or wrong bearer token"), "{err}");
    assert_eq!(
        b.class_of("#override-result").await.as_deref(),
        Some("error")
    );
    let st = get_json(&server.url("/status")).await.unwrap();
    assert_eq!(st["overrides"], serde_json::json!([]), "{st}");

    // The right token: the override is set, shown, in /status, and answers change.
    b.type_into("#ov-token", TOKEN).await;
    b.click("#ov-submit").await;
    let (ok, _) = eventually("the override confirmed", SHOWN_WITHIN, || async {
        let t = b.text_of("#override-result").await.unwrap_or_default();
        if t.starts_with("set: site:hq up") {
            Ok(t)
        } else {
            Err(t)
        }
    })
    .await;
    println!("form says: {ok}");
    let stored = b
        .js("return sessionStorage.getItem('meridian.admin.token')")
        .await;
    assert_eq!(stored, TOKEN, "the token is kept for the tab only");
    let (row, _) = eventually("the override listed on the page", SHOWN_WITHIN, || async {
        b.text_of("#overrides tr[data-target=\"site:hq\"]")
            .await
            .ok_or_else(|| "no row".to_string())
    })
    .await;
    assert!(row.contains("backend replaced, page test"), "{row}");
    let st = get_json(&server.url("/status")).await.unwrap();
    let o = &st["overrides"][0];
    assert_eq!(
        (
            o["target"].as_str(),
            o["state"].as_str(),
            o["reason"].as_str()
        ),
        (
            Some("site:hq"),
            Some("up"),
            Some("backend replaced, page test")
        ),
        "{st}"
    );
    assert!(o["expires_ms"].as_u64().is_some(), "{o}");
    eventually("DNS answers hq again", SHOWN_WITHIN, || async {
        let a = server.answers("www.page.test.");
        if a == vec![ip("127.0.0.1")] {
            Ok(())
        } else {
            Err(format!("{a:?}"))
        }
    })
    .await;
    let (class, _) = eventually("127.0.0.1 shown up and forced", SHOWN_WITHIN, || async {
        let c = chip(b, "127.0.0.1").await?;
        if c == "chip up forced" { Ok(c) } else { Err(c) }
    })
    .await;
    println!("chip after the override: {class}");

    let shot = target_dir().join("status-page.png");
    b.screenshot(&shot).await;
    println!(
        "screenshot: {} (scenario took {:?})",
        shot.display(),
        started.elapsed()
    );
    // Nothing on the page ever opened a dialog (an injected alert would).
    assert!(b.client.get_alert_text().await.is_err(), "an alert is open");
}

/// Makes the fixture's times (negative: that long ago; positive: that far ahead) absolute.
fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/page/status.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    fn walk(v: &mut Value, now: i64) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match (k.as_str(), x.as_i64()) {
                        ("at_ms" | "set_at_ms" | "expires_ms" | "loaded_at_ms", Some(rel)) => {
                            *x = Value::from(now + rel)
                        }
                        _ => walk(x, now),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, now)),
            _ => {}
        }
    }
    walk(&mut doc, now);
    doc
}

/// A one-request-per-connection HTTP server on loopback for the fixture case: `/` is the
/// page as the admin endpoint sends it, `/status` the fixture (503 while `broken`).
async fn fixture_server(
    doc: Value,
    broken: Arc<AtomicBool>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        for _ in 0..10_000 {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let (doc, broken) = (doc.clone(), broken.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf[n..]))
                        .await
                    {
                        Ok(Ok(m)) if m > 0 => n += m,
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let (status, ctype, body) = match path {
                    "/" => (
                        200,
                        "text/html; charset=utf-8",
                        meridian::admin::page::status_page(),
                    ),
                    "/status" if broken.load(Ordering::Relaxed) => (
                        503,
                        "text/plain",
                        "status unavailable for the test\n".to_string(),
                    ),
                    "/status" => (200, "application/json", doc.to_string()),
                    _ => (404, "text/plain", "not found\n".to_string()),
                };
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _written = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_draws_lvs_cluster_anycast_and_flags_divergence_in_chromium() {
    let broken = Arc::new(AtomicBool::new(false));
    let (addr, server) = fixture_server(fixture(), broken.clone()).await;
    let b = Browser::start(1360, 1500).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        AssertUnwindSafe(fixture_scenario(&b, addr, &broken)).catch_unwind(),
    )
    .await;
    let logs = format!("--- chromedriver log ---\n{}", b.log_tail());
    b.close().await;
    server.abort();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => {
            eprintln!("{logs}");
            std::panic::resume_unwind(panic);
        }
        Err(_) => panic!("the scenario did not finish within 60 s\n{logs}"),
    }
}

async fn fixture_scenario(b: &Browser, addr: SocketAddr, broken: &AtomicBool) {
    b.client
        .goto(&format!("http://{addr}/"))
        .await
        .unwrap_or_else(|e| panic!("load the page: {e}"));
    eventually("the grid drawn", SHOWN_WITHIN, || async {
        chip(b, "192.0.2.22").await
    })
    .await;
    // State colours come from the state, per address.
    for (a, want) in [
        ("203.0.113.10", "chip up"),
        ("203.0.113.11", "chip down"),
        ("192.0.2.22", "chip drain forced"),
    ] {
        assert_eq!(chip(b, a).await.as_deref(), Ok(want), "{a}");
    }
    assert_eq!(
        b.class_of("#grid td.cell[data-site=\"hq\"][data-link=\"unicom\"]")
            .await
            .as_deref(),
        Some("cell down")
    );
    // The divergent peer: a banner, and its digest marked in the peer table.
    let banner = b
        .text_of("[data-banner=divergent]")
        .await
        .expect("divergence banner");
    assert!(banner.contains("dr-ns1"), "{banner}");
    assert_eq!(
        b.class_of("#cluster tr[data-node=\"dr-ns1\"] td.divergent")
            .await
            .as_deref(),
        Some("mono divergent")
    );
    assert!(
        b.class_of("#cluster tr[data-node=\"ap-ns1\"] td.divergent")
            .await
            .is_none()
    );
    // The LVS table: services and real servers with weights and the drain.
    let lvs = b.text_of("#lvs").await.unwrap();
    for want in [
        "TCP 203.0.113.12:80",
        "10.10.209.101:80",
        "10.10.209.103:80",
        "0 (100)",
        "drain 610 s · 290 s left",
    ] {
        assert!(lvs.contains(want), "LVS table lacks {want}: {lvs}");
    }
    // Anycast prefixes with their route state.
    let anycast = b.text_of("#anycast").await.unwrap();
    assert!(
        anycast.contains("192.0.2.53/32") && anycast.contains("198.51.100.80/32"),
        "{anycast}"
    );
    let routes = b
        .js("return [...document.querySelectorAll('#anycast .st')].map(e => e.className)")
        .await;
    assert_eq!(routes, serde_json::json!(["st up", "st down"]));
    // Answers per route, the changes and the override's reason, as text.
    let services = b.text_of("#services").await.unwrap();
    assert!(
        services.contains("192.0.2.20") && services.contains("203.0.113.10"),
        "{services}"
    );
    let overrides = b.text_of("#overrides").await.unwrap();
    assert!(
        overrides.contains("<b onmouseover=alert(3)>now</b>"),
        "{overrides}"
    );
    let injected = b
        .js(
            "return document.querySelectorAll('[onerror], [onmouseover], img').length \
             + [...document.querySelectorAll('b')].filter(e => e.textContent === 'now').length",
        )
        .await;
    assert_eq!(injected, 0, "markup from the data reached the DOM");
    let changes = b.text_of("#changes").await.unwrap();
    assert!(changes.contains("hq/unicom 203.0.113.11"), "{changes}");
    // The header: generation and digest of the configuration in force.
    let facts = b.text_of("#facts").await.unwrap();
    assert!(
        facts.contains("config gen 7") && facts.contains("digest 3f2a9c01d4e5"),
        "{facts}"
    );
    // Each check with its last and next probe.
    let row = b
        .text_of("#targets tr[data-addr=\"203.0.113.11\"]")
        .await
        .unwrap();
    assert!(
        row.contains("tcp:80 down last 380 ms ago · next in 620 ms"),
        "{row}"
    );

    let shot = target_dir().join("status-page-full.png");
    b.screenshot(&shot).await;
    println!("screenshot: {}", shot.display());

    // The server stops answering: the page says so and keeps the last data.
    broken.store(true, Ordering::Relaxed);
    let (text, t) = eventually("the failed refresh shown", SHOWN_WITHIN, || async {
        let live = b.class_of("#live").await.unwrap_or_default();
        let banner = b.text_of(".banner.err").await.unwrap_or_default();
        if live == "fail" && banner.contains("503") {
            Ok(banner)
        } else {
            Err(format!("{live}: {banner}"))
        }
    })
    .await;
    println!("failure shown after {t:?}: {text}");
    assert!(
        b.text_of("#lvs")
            .await
            .unwrap()
            .contains("10.10.209.101:80"),
        "last data kept"
    );
    broken.store(false, Ordering::Relaxed);
    eventually("recovery shown", SHOWN_WITHIN, || async {
        let live = b.class_of("#live").await.unwrap_or_default();
        if live == "ok" && b.text_of(".banner.err").await.is_none() {
            Ok(())
        } else {
            Err(live)
        }
    })
    .await;
}
