//! The admin endpoint under hostile local clients, over real loopback sockets from several
//! 127/8 addresses: one prefix at its cap leaves others served, and a connection that never
//! completes its request (or never reads the answer) is closed at the deadline.

#![allow(clippy::disallowed_methods)] // real sockets: wall-clock deadlines are what is measured

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::*;
use crate::config::ConnLimits;

const DEADLINE: Duration = Duration::from_millis(800);

fn connect(src: [u8; 4], server: SocketAddr) -> TcpStream {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((Ipv4Addr::from(src), 0)).into())
        .unwrap();
    sock.connect_timeout(&server.into(), Duration::from_secs(2))
        .unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s
}

/// `GET /status` from `src`: the status line, or empty when the server closed at once.
fn get(src: [u8; 4], server: SocketAddr) -> String {
    let mut s = connect(src, server);
    if s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return String::new();
    }
    let mut out = Vec::new();
    if s.read_to_end(&mut out).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_prefix_at_its_cap_leaves_others_served_and_idle_ones_end_at_the_deadline() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let state = Arc::new(AdminState {
        token: "0123456789abcdef".into(),
        status: Box::new(|| serde_json::json!({"ok": true})),
        overrides: None,
    });
    let admin = rt
        .block_on(Admin::bind("127.0.0.1:0".parse().unwrap(), state))
        .unwrap()
        .with_settings(AdminSettings {
            limits: ConnLimits {
                max_connections: 16,
                max_per_prefix: 2,
                prefix_v4: 24,
                prefix_v6: 56,
            },
            timeout: DEADLINE,
        });
    let server = admin.local_addr().unwrap();
    rt.spawn(admin.run(shutdown.clone()));
    assert_eq!(get([127, 0, 1, 1], server), "HTTP/1.1 200 OK");
    // Two connections that send half a request hold 127.0.1.0/24's places.
    let held: Vec<TcpStream> = (1..=2)
        .map(|i| {
            let mut s = connect([127, 0, 1, i], server);
            s.write_all(b"GET /status HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    let since = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get([127, 0, 1, 3], server), "", "prefix cap not in force");
    assert_eq!(get([127, 0, 2, 1], server), "HTTP/1.1 200 OK");
    assert_eq!(get([127, 2, 0, 1], server), "HTTP/1.1 200 OK");
    // At the deadline the held connections get their answer (a timeout) and are closed;
    // the prefix is served again.
    let mut answered = None;
    while since.elapsed() < Duration::from_secs(5) {
        if get([127, 0, 1, 3], server) == "HTTP/1.1 200 OK" {
            answered = Some(since.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let answered = answered.expect("held connections never closed");
    assert!(
        answered >= DEADLINE - Duration::from_millis(100)
            && answered <= DEADLINE + Duration::from_millis(1500),
        "{answered:?}"
    );
    for mut s in held {
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    }
    shutdown.cancel();
}
