//! The admin endpoint of the real binary over loopback: keep-alive, status codes, size and
//! time limits, the token on state-changing calls and (with `admin_read = "token"`) on
//! reads, `POST /reload` and `meridian reload` applying a good file and refusing a bad one
//! with every error while DNS keeps answering the old data, and `meridian status`'s tables.

#![allow(clippy::disallowed_methods)] // a test harness measures wall time

#[path = "support/admin_node.rs"]
mod admin_node;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use admin_node::{Http, Node, lookup};
use hickory_proto::rr::RecordType;

fn zone(generation: &str, a: &str) -> String {
    format!(
        "$ORIGIN adm.test.\n$TTL 60\n@ SOA ns hm 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n\
         a A {a}\nv TXT \"{generation}\"\n"
    )
}

/// Sites on 127.0.0.31 (a listener: up) and 127.0.0.32 (nothing: down), one service
/// failing over from hq to dr, a tcp check on `port` every 200 ms.
fn policy(port: u16, ttl: &str) -> String {
    format!(
        "[site.hq]\nlinks = {{ default = [\"127.0.0.32\"] }}\n\
         [site.dr]\nlinks = {{ default = [\"127.0.0.31\"] }}\n\
         [service.www]\nname = \"www.adm.test\"\nttl = {ttl}\nsites = [\"hq\", \"dr\"]\nmode = \"failover\"\n\
         check = {{ type = \"tcp\", port = {port}, interval = \"200ms\", timeout = \"100ms\", rise = 1, fall = 1 }}\n"
    )
}

/// A TCP listener on 127.0.0.31 that the tcp check connects to.
fn backend() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.31:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // Accepted connections are dropped at once: the check needs only the handshake.
    let l2 = l.try_clone().unwrap();
    std::thread::spawn(move || for _c in l2.incoming().take(10_000) {});
    (l, port)
}

/// Polls `f` every 50 ms for at most `limit`.
fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what} not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_connection_many_requests_codes_and_limits() {
    let (_backend, port) = backend();
    let node = Node::start(
        "adm.test",
        &zone("gen-0", "192.0.2.1"),
        "admin_timeout = \"1s\"",
        &policy(port, "30"),
        "a.adm.test.",
    );
    let token = node.token();
    let mut c = Http::connect(node.admin);
    // Keep-alive: several requests, one connection.
    let st = c.request("GET", "/status", None, "");
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(st.header("content-type"), Some("application/json"));
    let m = c.request("GET", "/metrics", None, "");
    assert_eq!(m.status, 200);
    assert!(m.body.contains("meridian_config_generation"), "{}", m.body);
    let r = c.request(
        "POST",
        "/overrides",
        None,
        r#"{"target":"site:hq","state":"down"}"#,
    );
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
    let r = c.request("POST", "/reload", Some("wrong-token-0123456789"), "");
    assert_eq!(r.status, 401);
    let r = c.request("DELETE", "/status", None, "");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    assert_eq!(c.request("GET", "/nope", None, "").status, 404);
    let r = c.request("POST", "/overrides", Some(&token), "{not json");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("key must be a string"), "{}", r.body);
    let r = c.request(
        "POST",
        "/overrides",
        Some(&token),
        r#"{"target":"site:mars","state":"down"}"#,
    );
    assert_eq!(r.status, 400);
    let r = c.request(
        "POST",
        "/overrides",
        Some(&token),
        r#"{"target":"site:dr","state":"drain","reason":"test"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c.request("DELETE", "/overrides?target=site%3Adr", Some(&token), "");
    assert_eq!((r.status, r.body.as_str()), (200, "[]"));
    assert_eq!(c.request("GET", "/", None, "").status, 200);

    // The document: configuration, sites and links, probe times, the answer per route.
    let doc = c.request("GET", "/status", None, "").json();
    assert_eq!(doc["generation"], 1);
    // The first digest is computed off the start path: soon after start.
    eventually(Duration::from_secs(5), "the digest", || {
        let doc = c.request("GET", "/status", None, "").json();
        doc["digest"].as_str().map(str::len) == Some(16)
    });
    assert!(
        doc["loaded_at_ms"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000)
    );
    eventually(
        Duration::from_secs(5),
        "both probes ran and dr answers",
        || {
            let doc = c.request("GET", "/status", None, "").json();
            let rows = doc["targets"].as_array().cloned().unwrap_or_default();
            let probed = rows
                .iter()
                .all(|t| t["probes"][0]["last_probe_ms_ago"].is_u64());
            probed && doc["services"][0]["answers"][0]["a"] == serde_json::json!(["127.0.0.31"])
        },
    );
    let doc = c.request("GET", "/status", None, "").json();
    let hq = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["site"] == "hq")
        .unwrap()
        .clone();
    assert_eq!(hq["state"], "down", "{hq:#}");
    assert!(
        hq["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("tcp: ")),
        "{hq:#}"
    );
    assert!(
        hq["probes"][0]["next_probe_in_ms"]
            .as_u64()
            .is_some_and(|n| n <= 200),
        "{hq:#}"
    );
    assert_eq!(doc["sites"][0]["site"], "dr");
    assert_eq!(doc["sites"][0]["state"], "up");
    assert_eq!(doc["sites"][1]["state"], "down");
    let answer = &doc["services"][0]["answers"][0];
    assert_eq!(answer["routes"], serde_json::json!(["default"]));
    assert!(
        answer["why"]
            .as_str()
            .is_some_and(|w| w.starts_with("failover")),
        "{answer:#}"
    );

    // Limits: a head over 16 KiB is 431, a body over 64 KiB is 413; both close.
    let mut big = Http::connect(node.admin);
    let filler = "a".repeat(17 * 1024);
    big.send_raw(
        format!("GET /status HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n").as_bytes(),
    );
    assert_eq!(big.read_answer().map(|a| a.status), Some(431));
    let mut fat = Http::connect(node.admin);
    let r = fat.request("POST", "/overrides", Some(&token), &"x".repeat(65 * 1024));
    assert_eq!(r.status, 413);
    assert!(fat.closed_within(Duration::from_secs(2)));

    // A client that never finishes its head is cut at the deadline (1 s); one that waits
    // between requests too.
    let mut slow = Http::connect(node.admin);
    let t = Instant::now();
    slow.send_raw(b"GET /status HTTP/1.1\r\nHost");
    assert!(slow.closed_within(Duration::from_secs(5)));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    let t = Instant::now();
    assert!(c.closed_within(Duration::from_secs(5)));
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn reload_over_http_and_the_cli_keeps_the_old_data_when_refused() {
    let (_backend, port) = backend();
    let mut node = Node::start(
        "adm.test",
        &zone("gen-0", "192.0.2.1"),
        "",
        &policy(port, "30"),
        "a.adm.test.",
    );
    let token = node.token();
    let txt = || lookup(node.dns, "v.adm.test.", RecordType::TXT).unwrap_or_default();
    assert_eq!(txt(), ["gen-0"]);

    // Good: new zone data, generation 2, the digest changes.
    std::fs::write(node.path("zones/adm.test.zone"), zone("gen-1", "192.0.2.2")).unwrap();
    let mut c = Http::connect(node.admin);
    let mut before = serde_json::Value::Null;
    eventually(Duration::from_secs(5), "the first digest", || {
        before = c.request("GET", "/status", None, "").json();
        before["digest"].as_str().is_some_and(|d| d.len() == 16)
    });
    let r = c.request("POST", "/reload", Some(&token), "");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["generation"], 2);
    assert_ne!(v["digest"], before["digest"]);
    assert_eq!(v["zone_errors"], serde_json::json!([]));
    assert_eq!(txt(), ["gen-1"]);

    // Bad: two errors in the policy file, each with file:line; the zone change is not
    // applied; the generation stays.
    std::fs::write(node.path("zones/adm.test.zone"), zone("gen-2", "192.0.2.3")).unwrap();
    let bad = policy(port, "-5").replace("sites = [\"hq\", \"dr\"]", "sites = [\"hq\", \"mars\"]");
    node.write_config("", &bad);
    let text = node.config_text("", &bad);
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let r = c.request("POST", "/reload", Some(&token), "");
    assert_eq!(r.status, 422, "{}", r.body);
    let errors: Vec<String> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let cfg = node.cfg.display().to_string();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{cfg}:{}:", line_of("ttl =")))
                && e.contains("service.www.ttl")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{cfg}:{}:", line_of("mars"))) && e.contains("mars")),
        "{errors:?}"
    );
    assert_eq!(txt(), ["gen-1"], "a refused reload changed the data");
    assert_eq!(
        c.request("GET", "/status", None, "").json()["generation"],
        2
    );

    // The CLI: the same errors on standard error and exit 2; after a fix, exit 0.
    let (code, out, err) = node.cli(&["reload"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("service.www.ttl") && err.contains("reload refused (2 errors)"),
        "{err}"
    );
    assert_eq!(txt(), ["gen-1"]);
    node.write_config("", &policy(port, "30"));
    let (code, out, err) = node.cli(&["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("reloaded: generation 3, digest "), "{out}");
    assert_eq!(txt(), ["gen-2"]);

    // A broken zone: applied for the rest, the zone keeps its data, exit 2.
    std::fs::write(
        node.path("zones/adm.test.zone"),
        format!("{}oops A 192.0.2.300\n", zone("gen-3", "192.0.2.4")),
    )
    .unwrap();
    let (code, out, err) = node.cli(&["reload"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("zone refused, it keeps its previous contents"),
        "{err}"
    );
    assert_eq!(txt(), ["gen-2"]);

    // SIGHUP still reloads, through the same path.
    std::fs::write(node.path("zones/adm.test.zone"), zone("gen-4", "192.0.2.5")).unwrap();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(node.pid() as i32, libc::SIGHUP) }, 0);
    eventually(Duration::from_secs(5), "SIGHUP reload", || {
        txt() == ["gen-4"]
    });

    // No server: exit 1.
    drop(c);
    node.stop();
    let (code, _, err) = node.cli(&["reload"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach the admin endpoint"), "{err}");
    let (code, _, err) = node.cli(&["status"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn status_tables_and_reads_gated_by_the_token() {
    let (_backend, port) = backend();
    let node = Node::start(
        "adm.test",
        &zone("gen-0", "192.0.2.1"),
        "admin_read = \"token\"",
        &policy(port, "30"),
        "a.adm.test.",
    );
    let token = node.token();
    let mut c = Http::connect(node.admin);
    assert_eq!(c.request("GET", "/status", None, "").status, 401);
    assert_eq!(c.request("GET", "/metrics", None, "").status, 401);
    assert_eq!(c.request("GET", "/status", Some(&token), "").status, 200);
    assert_eq!(c.request("GET", "/metrics", Some(&token), "").status, 200);
    // The page holds no data (it reads /status itself, with the token it asks for).
    let page = c.request("GET", "/", None, "");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("127.0.0.31"), "{}", page.body);
    assert!(
        page.body.contains("<title>Meridian status</title>"),
        "{}",
        page.body
    );
    eventually(Duration::from_secs(5), "dr answers", || {
        lookup(node.dns, "www.adm.test.", RecordType::A).is_some_and(|a| a == ["127.0.0.31"])
    });
    let (code, out, err) = node.cli(&[
        "override",
        "set",
        "site:dr",
        "drain",
        "--reason",
        "maintenance",
    ]);
    assert_eq!(code, 0, "{out}{err}");

    // The CLI reads with the token.
    let (code, out, err) = node.cli(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!(
            "config {}  generation 1  digest ",
            node.cfg.display()
        )),
        "{out}"
    );
    assert!(out.contains("zones: adm.test. (4 names)"), "{out}");
    let hq = out
        .lines()
        .find(|l| l.starts_with("hq "))
        .unwrap_or_else(|| panic!("{out}"));
    for cell in [
        "hq (down)",
        "default (down)",
        "127.0.0.32",
        "down",
        "probe",
        " ago",
        "in ",
        "tcp: ",
    ] {
        assert!(hq.contains(cell), "{cell} missing in {hq}");
    }
    let dr = out
        .lines()
        .find(|l| l.starts_with("dr "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        dr.contains("drain") && dr.contains("site override") && dr.contains("maintenance"),
        "{dr}"
    );
    let svc = out
        .lines()
        .find(|l| l.starts_with("www.adm.test."))
        .unwrap_or_else(|| panic!("{out}"));
    for cell in ["failover", "default", "hq dr"] {
        assert!(svc.contains(cell), "{cell} missing in {svc}");
    }
    assert!(
        out.contains("site:dr") && out.contains("drain") && out.contains(": maintenance"),
        "{out}"
    );
    let (code, out, _) = node.cli(&["status", "--json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["overrides"][0]["target"], "site:dr");

    // Without [server] admin: exit 2.
    let lone = node.path("lone.toml");
    std::fs::write(&lone, "[server]\nzones = \"zones\"\n").unwrap();
    let (code, _, err) = admin_node::cli_with(&lone, &["status"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = admin_node::cli_with(&lone, &["reload"]);
    assert_eq!(code, 2, "{err}");
}
