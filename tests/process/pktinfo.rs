//! Wildcard listeners answer from the address queried: a network namespace made by the test
//! with two IPv4 (127.0.0.1, 127.0.0.2) and two IPv6 (fd00:77::1, fd00:77::2) addresses, the
//! server listening on `0.0.0.0` and `[::]`, clients on connected UDP sockets (which drop a
//! reply from any other source) and on unconnected ones (whose reply source is compared).

#![allow(clippy::disallowed_methods)] // a test harness measures wall time

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::Killed;
use crate::netns::Lab;
use crate::node::{ZONE, answers, bin};

const QUERY_ID: [u8; 2] = [0x77, 0x01];

fn query() -> Vec<u8> {
    crate::dnsclient::query(
        0x7701,
        "www.example.test.",
        hickory_proto::rr::RecordType::A,
        None,
    )
}

/// The reply's source on an unconnected socket bound to `from`; None after 2 s.
fn reply_source(from: IpAddr, to: SocketAddr) -> Option<SocketAddr> {
    let c = UdpSocket::bind(SocketAddr::new(from, 0)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.send_to(&query(), to).unwrap();
    let mut buf = [0u8; 1500];
    let (n, src) = c.recv_from(&mut buf).ok()?;
    assert!(n >= 12 && buf[..2] == QUERY_ID);
    Some(src)
}

/// Whether a socket bound to `from` and connected to `to` gets the answer (one try, 2 s).
fn connected_answer(from: IpAddr, to: SocketAddr) -> bool {
    let c = UdpSocket::bind(SocketAddr::new(from, 0)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.connect(to).unwrap();
    c.send(&query()).unwrap();
    let mut buf = [0u8; 1500];
    matches!(c.recv(&mut buf), Ok(n) if n >= 12 && buf[..2] == QUERY_ID)
}

#[test]
fn wildcard_listeners_answer_from_each_address_queried() {
    let mut lab = Lab::new("pk");
    let host = lab.host("a", 1);
    for a in ["fd00:77::1/128", "fd00:77::2/128"] {
        host.ip(&["addr", "add", a, "dev", "lo", "nodad"]);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("example.test.zone"), ZONE).unwrap();
    let cfg = dir.path().join("meridian.toml");
    std::fs::write(
        &cfg,
        "[server]\nlisten = [\"0.0.0.0:5300\", \"[::]:5300\"]\nzones = \"example.test.zone\"\n\
         udp_threads = 2\n",
    )
    .unwrap();
    let log = dir.path().join("stderr.log");
    let child = host
        .command(&bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    let v4 = |d: &str| -> IpAddr { format!("127.0.0.{d}").parse().unwrap() };
    let v6 = |d: &str| -> IpAddr { format!("fd00:77::{d}").parse().unwrap() };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !host.enter(|| answers(SocketAddr::new(v4("1"), 5300), Duration::from_millis(200))) {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "exited:\n{}",
            stderr()
        );
        assert!(Instant::now() < deadline, "not answering:\n{}", stderr());
    }
    host.enter(|| {
        // Control: a plain wildcard socket answers a query to the second address from the
        // first one here, so these clients do see a wrong source.
        for (from, to) in [(v4("1"), v4("2")), (v6("1"), v6("2"))] {
            let plain = UdpSocket::bind(match to {
                IpAddr::V4(_) => "0.0.0.0:0",
                IpAddr::V6(_) => "[::]:0",
            })
            .unwrap();
            let port = plain.local_addr().unwrap().port();
            let t = std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                if let Ok((n, src)) = plain.recv_from(&mut buf) {
                    let _ = plain.send_to(&buf[..n], src);
                }
            });
            let src = reply_source(from, SocketAddr::new(to, port));
            t.join().unwrap();
            assert_eq!(src.map(|s| s.ip()), Some(from), "control for {to}");
        }
        for to in [v4("1"), v4("2"), v6("1"), v6("2")] {
            let from = match to {
                IpAddr::V4(_) => v4("1"),
                IpAddr::V6(_) => v6("1"),
            };
            let to = SocketAddr::new(to, 5300);
            // Several queries each, so that both UDP threads of the address are reached.
            for _ in 0..4 {
                assert_eq!(reply_source(from, to), Some(to), "{}", stderr());
                assert!(connected_answer(from, to), "{to}: {}", stderr());
            }
        }
    });
    assert!(child.0.try_wait().unwrap().is_none(), "{}", stderr());
}
