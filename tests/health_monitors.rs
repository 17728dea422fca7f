//! Monitors against real servers on 127.0.0.1: one probe at a time, checking the verdict and
//! the reason (http/https/dns/exec/tcp). Timing behaviour through the scheduler lives in
//! `health_scheduler.rs`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{RData, Record, rdata::A};
use meridian::config::{Check, CheckKind, HttpMethod, QType, StartState};
use meridian::health::{HttpClients, Monitor, ProbeKey, ProbeResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::Instant;

fn check(kind: CheckKind, timeout_ms: u64) -> Check {
    Check {
        kind,
        port: None,
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(timeout_ms),
        rise: 2,
        fall: 2,
        start: StartState::Down,
    }
}

fn http(https: bool, path: &str, expect: &[u16], body: Option<&str>, verify: bool) -> CheckKind {
    CheckKind::Http {
        https,
        method: HttpMethod::Get,
        path: path.into(),
        host: None,
        expect: expect.to_vec(),
        body: body.map(str::to_owned),
        tls_verify: verify,
    }
}

async fn probe_once(addr: SocketAddr, check: Check) -> ProbeResult {
    let key = ProbeKey::for_real(addr, &check);
    let monitor = Monitor::new(key, &HttpClients::new()).expect("monitor");
    monitor.probe().await
}

/// What the tiny HTTP server answers, and the Host headers it saw.
#[derive(Default)]
struct Behaviour {
    status: u16,
    body: String,
    hosts: Vec<String>,
    paths: Vec<String>,
}

/// A hand-written HTTP/1.1 responder: reads one request head, answers, closes.
async fn http_server(state: Arc<Mutex<Behaviour>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let head = read_head(&mut s).await;
                let resp = {
                    let mut b = state.lock().unwrap();
                    record_request(&mut b, &head);
                    format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        b.status,
                        b.body.len(),
                        b.body
                    )
                };
                s.write_all(resp.as_bytes()).await.ok();
                s.shutdown().await.ok();
            });
        }
    });
    addr
}

async fn read_head<S: AsyncReadExt + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16384 {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn record_request(b: &mut Behaviour, head: &str) {
    if let Some(path) = head.split_whitespace().nth(1) {
        b.paths.push(path.to_owned());
    }
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("host")
        {
            b.hosts.push(v.trim().to_owned());
        }
    }
}

fn behaviour(status: u16, body: &str) -> Arc<Mutex<Behaviour>> {
    Arc::new(Mutex::new(Behaviour {
        status,
        body: body.into(),
        ..Behaviour::default()
    }))
}

#[tokio::test]
async fn tcp_up_and_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let r = probe_once(addr, check(CheckKind::Tcp, 300)).await;
    assert!(r.up, "{r:?}");
    drop(listener);
    let r = probe_once(addr, check(CheckKind::Tcp, 300)).await;
    assert!(!r.up);
    assert_eq!(&*r.reason, "connect refused");
}

#[tokio::test]
async fn http_status_body_path_and_host() {
    let state = behaviour(200, "all good: OK-42");
    let addr = http_server(state.clone()).await;

    let r = probe_once(
        addr,
        check(http(false, "/healthz", &[200], None, true), 500),
    )
    .await;
    assert!(r.up, "{r:?}");
    let r = probe_once(
        addr,
        check(http(false, "healthz", &[200], Some("OK-42"), true), 500),
    )
    .await;
    assert!(r.up, "{r:?}");
    let r = probe_once(
        addr,
        check(http(false, "/", &[200], Some("OK-43"), true), 500),
    )
    .await;
    assert!(!r.up);
    assert!(r.reason.contains("body lacks"), "{r:?}");

    state.lock().unwrap().status = 500;
    let r = probe_once(addr, check(http(false, "/", &[200], None, true), 500)).await;
    assert!(!r.up);
    assert_eq!(&*r.reason, "status 500");
    // 500 is fine when listed.
    let r = probe_once(addr, check(http(false, "/", &[200, 500], None, true), 500)).await;
    assert!(r.up, "{r:?}");

    // Host header override and method.
    state.lock().unwrap().status = 204;
    let mut kind = http(false, "/x", &[204], None, true);
    if let CheckKind::Http { host, method, .. } = &mut kind {
        *host = Some("www.example.test".into());
        *method = HttpMethod::Head;
    }
    let r = probe_once(addr, check(kind, 500)).await;
    assert!(r.up, "{r:?}");
    let b = state.lock().unwrap();
    assert_eq!(b.hosts.last().map(String::as_str), Some("www.example.test"));
    assert_eq!(b.paths[0], "/healthz");
    assert_eq!(b.paths[1], "/healthz");
}

/// A plain `http` check needs no TLS roots: on a host without CA certificates (a minimal
/// container, the IPVS test VM) every http probe used to fail with "cannot build the HTTP
/// client". The test runs itself again in a child whose certificate paths lead nowhere.
#[test]
fn plain_http_needs_no_ca_roots() {
    const CHILD: &str = "MERIDIAN_TEST_NO_CA_ROOTS";
    if std::env::var_os(CHILD).is_some() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let addr = http_server(behaviour(200, "ok")).await;
            let r = probe_once(
                addr,
                check(http(false, "/healthz", &[200], None, true), 500),
            )
            .await;
            assert!(r.up, "{r:?}");
            // https with verification has nothing to verify against: refused, saying why
            let key = ProbeKey::for_real(addr, &check(http(true, "/", &[200], None, true), 500));
            let err = Monitor::new(key, &HttpClients::new())
                .unwrap_err()
                .to_string();
            println!("https without roots: {err}");
            assert!(err.contains("CA certificates"), "{err}");
        });
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "plain_http_needs_no_ca_roots", "--nocapture"])
        .env(CHILD, "1")
        .env("SSL_CERT_FILE", "/nonexistent/ca-certificates.crt")
        .env("SSL_CERT_DIR", "/nonexistent")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

#[tokio::test]
async fn http_refused_and_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts but never answers: the probe must give up at its timeout.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let start = Instant::now();
    let r = probe_once(addr, check(http(false, "/", &[200], None, true), 300)).await;
    assert!(!r.up);
    assert_eq!(&*r.reason, "timeout 300ms");
    assert!(
        start.elapsed() < Duration::from_millis(1300),
        "{:?}",
        start.elapsed()
    );
    silent.abort();
    // Dropping the aborted task closes the listener.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = probe_once(addr, check(http(false, "/", &[200], None, true), 300)).await;
    assert!(!r.up);
    assert_eq!(&*r.reason, "connect refused", "{r:?}");
}

/// An HTTPS server with a certificate made here and signed by nobody the system trusts.
async fn https_server(names: Vec<String>) -> SocketAddr {
    use tokio_rustls::rustls;
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                read_head(&mut tls).await;
                let resp =
                    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";
                tls.write_all(resp.as_bytes()).await.ok();
                tls.shutdown().await.ok();
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_self_signed_needs_verification_off() {
    let addr = https_server(vec!["127.0.0.1".into(), "www.example.test".into()]).await;
    let r = probe_once(
        addr,
        check(http(true, "/", &[200], Some("secure"), true), 2000),
    )
    .await;
    assert!(
        !r.up,
        "verification on must refuse a self-signed cert: {r:?}"
    );
    assert!(r.reason.contains("certificate"), "{r:?}");
    eprintln!("verification on: {}", r.reason);

    let r = probe_once(
        addr,
        check(http(true, "/", &[200], Some("secure"), false), 2000),
    )
    .await;
    assert!(r.up, "{r:?}");

    // With a Host name: SNI goes to the name, the connection still to the address.
    let mut kind = http(true, "/", &[200], Some("secure"), false);
    if let CheckKind::Http { host, .. } = &mut kind {
        *host = Some("www.example.test".into());
    }
    let r = probe_once(addr, check(kind, 2000)).await;
    assert!(r.up, "{r:?}");
}

#[tokio::test]
async fn exec_exit_codes_env_and_timeout_kill() {
    let target: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let exec = |script: &str| CheckKind::Exec {
        command: vec!["sh".into(), "-c".into(), script.into()],
    };
    let r = probe_once(target, check(exec("exit 0"), 2000)).await;
    assert!(r.up, "{r:?}");
    let r = probe_once(target, check(exec("exit 3"), 2000)).await;
    assert!(!r.up);
    assert_eq!(&*r.reason, "exit 3");
    let env = r#"test "$MERIDIAN_TARGET_PORT" = 8080 && test "$MERIDIAN_TARGET_ADDR" = 127.0.0.1"#;
    let r = probe_once(target, check(exec(env), 2000)).await;
    assert!(r.up, "{r:?}");
    let r = probe_once(
        target,
        check(
            CheckKind::Exec {
                command: vec!["/nonexistent/x".into()],
            },
            500,
        ),
    )
    .await;
    assert!(!r.up);
    assert!(r.reason.starts_with("spawn"), "{r:?}");

    // A shell with a background child: on timeout both must die.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let start = Instant::now();
    let r = probe_once(target, check(exec(&script), 300)).await;
    let took = start.elapsed();
    assert!(!r.up);
    assert_eq!(&*r.reason, "timeout 300ms");
    assert!(took < Duration::from_millis(1300), "{took:?}");
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    assert_dies(&pid).await;
}

/// A UDP DNS responder: answers every query with `rcode` and one A record `answer`.
async fn dns_server(rcode: ResponseCode, answer: [u8; 4]) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
            r.metadata.response_code = rcode;
            r.metadata.authoritative = true;
            for query in &q.queries {
                r.add_query(query.clone());
                if rcode == ResponseCode::NoError {
                    r.add_answer(Record::from_rdata(
                        query.name().clone(),
                        30,
                        RData::A(A::from(std::net::Ipv4Addr::from(answer))),
                    ));
                }
            }
            let bytes = r.to_vec().unwrap();
            sock.send_to(&bytes, peer).await.ok();
        }
    });
    addr
}

fn dns(rcode: &str, answer: Option<&str>) -> CheckKind {
    CheckKind::Dns {
        query: "www.example.test".into(),
        qtype: QType::A,
        rcode: rcode.parse().unwrap(),
        answer: answer.map(str::to_owned),
    }
}

#[tokio::test]
async fn dns_rcode_and_answer() {
    let ok = dns_server(ResponseCode::NoError, [192, 0, 2, 1]).await;
    let r = probe_once(ok, check(dns("NOERROR", None), 500)).await;
    assert!(r.up, "{r:?}");
    let r = probe_once(ok, check(dns("noerror", Some("192.0.2.1")), 500)).await;
    assert!(r.up, "{r:?}");
    let r = probe_once(ok, check(dns("NOERROR", Some("192.0.2.9")), 500)).await;
    assert!(!r.up);
    assert!(r.reason.contains("no answer"), "{r:?}");
    let r = probe_once(ok, check(dns("NXDOMAIN", None), 500)).await;
    assert!(!r.up);

    let nx = dns_server(ResponseCode::NXDomain, [0; 4]).await;
    let r = probe_once(nx, check(dns("NXDOMAIN", None), 500)).await;
    assert!(r.up, "{r:?}");

    // Nobody listening: an ICMP port unreachable (refused) or the timeout.
    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.local_addr().unwrap()
    };
    let r = probe_once(closed, check(dns("NOERROR", None), 300)).await;
    assert!(!r.up);
    assert!(
        r.reason.contains("refused") || r.reason.contains("timeout"),
        "{r:?}"
    );
}

/// Waits until `pid` is gone or a zombie (killed; reaping is someone else's job).
async fn assert_dies(pid: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if matches!(state, None | Some("Z") | Some("X")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} still alive: {stat}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn exec_probe_dropped_midway_kills_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let kind = CheckKind::Exec {
        command: vec!["sh".into(), "-c".into(), script],
    };
    let key = ProbeKey::for_real("127.0.0.1:1".parse().unwrap(), &check(kind, 10_000));
    let monitor = Monitor::new(key, &HttpClients::new()).unwrap();
    // The scheduler drops a running probe on reload or shutdown; this does the same.
    let cut = tokio::time::timeout(Duration::from_millis(500), monitor.probe()).await;
    assert!(cut.is_err(), "the probe should still have been running");
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    assert_dies(&pid).await;
}
