//! The UDP threads as a process concern: a wildcard socket answers from the address each
//! query was sent to (two addresses on loopback, clients on connected sockets), and a worker
//! that panics is restarted on its socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::dns::zone::ZoneSet;
use crate::state::{Snapshot, shared};

/// A header-only query; any reply with its id proves an answer.
const QUERY: [u8; 12] = [0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Sends QUERY from `from` to `to`; the source address of the reply, on an unconnected
/// socket, or None when nothing came within 2 s.
fn reply_source(from: IpAddr, to: SocketAddr) -> Option<SocketAddr> {
    let c = UdpSocket::bind(SocketAddr::new(from, 0)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.send_to(&QUERY, to).unwrap();
    let mut buf = [0u8; 512];
    let (n, src) = c.recv_from(&mut buf).ok()?;
    assert!(n >= 12 && buf[..2] == [0x12, 0x34]);
    Some(src)
}

/// The same from a connected socket, which drops datagrams from any other source.
fn connected_answer(from: IpAddr, to: SocketAddr) -> bool {
    let c = UdpSocket::bind(SocketAddr::new(from, 0)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.connect(to).unwrap();
    c.send(&QUERY).unwrap();
    let mut buf = [0u8; 512];
    matches!(c.recv(&mut buf), Ok(n) if n >= 12 && buf[..2] == [0x12, 0x34])
}

fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, d))
}

#[test]
fn a_wildcard_socket_answers_from_the_address_queried() {
    // Control: a plain wildcard socket (no IP_PKTINFO) answers a query to 127.0.0.2 from
    // 127.0.0.1 on this host, which is what the server must not do.
    let echo = UdpSocket::bind("0.0.0.0:0").unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        if let Ok((n, src)) = echo.recv_from(&mut buf) {
            let _ = echo.send_to(&buf[..n], src);
        }
    });
    let src = reply_source(v4(1), SocketAddr::new(v4(2), echo_port));
    t.join().unwrap();
    assert_eq!(
        src.map(|s| s.ip()),
        Some(v4(1)),
        "the control reply came from {src:?}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let shutdown = CancellationToken::new();
    let state = shared(Snapshot::new(ZoneSet::default(), 1232));
    let listen: Vec<SocketAddr> = vec!["0.0.0.0:0".parse().unwrap(), "[::]:0".parse().unwrap()];
    let server = rt
        .block_on(async { DnsServer::start_with_threads(&listen, state, shutdown.clone(), 2) })
        .unwrap();
    let (p4, p6) = (
        server.local_addrs()[0].port(),
        server.local_addrs()[1].port(),
    );
    for d in [1, 2, 3] {
        let to = SocketAddr::new(v4(d), p4);
        assert_eq!(reply_source(v4(1), to), Some(to), "query to {to}");
        assert!(
            connected_answer(v4(1), to),
            "no answer on a socket connected to {to}"
        );
    }
    let to6: SocketAddr = SocketAddr::new("::1".parse().unwrap(), p6);
    assert_eq!(reply_source("::1".parse().unwrap(), to6), Some(to6));
    shutdown.cancel();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), server.join()).await })
        .unwrap();
}

#[test]
fn a_panicking_udp_worker_is_restarted_on_its_socket() {
    let sock = std::sync::Arc::new(
        udp::bind("127.0.0.1:0".parse().unwrap(), udp::DEFAULT_RCVBUF).unwrap(),
    );
    let addr = sock.local_addr().unwrap();
    let state = shared(Snapshot::new(ZoneSet::default(), 1232));
    let shutdown = CancellationToken::new();
    let before = crate::metrics::METRICS
        .udp_thread_restarts
        .load(Ordering::Relaxed);
    let mut first = true;
    let (s, sd) = (sock.clone(), shutdown.clone());
    let handle = spawn_supervised("dns-udp-test".into(), shutdown.clone(), move || {
        if std::mem::take(&mut first) {
            panic!("injected: the first run of this worker fails");
        }
        udp::serve(&s, state.clone(), sd.clone(), 1);
    })
    .unwrap();
    // The restart comes after the first backoff (100 ms); a query sent before it waits in
    // the socket's buffer.
    assert!(connected_answer(v4(1), addr), "no answer after the restart");
    let after = crate::metrics::METRICS
        .udp_thread_restarts
        .load(Ordering::Relaxed);
    assert!(after > before, "restart not counted: {before} -> {after}");
    shutdown.cancel();
    udp::wake(&sock);
    handle.join().unwrap();
}

/// Root (as the tests run) sets the receive buffer above `net.core.rmem_max`; the
/// kernel reports twice the size granted.
#[test]
fn the_udp_receive_buffer_is_forced_to_the_size_asked() {
    assert!(
        crate::privilege::is_root(),
        "this test runs as root, as CI does"
    );
    let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let asked = (max + (1 << 20)).min(1 << 30);
    let sock = udp::bind("127.0.0.1:0".parse().unwrap(), asked).unwrap();
    let got = socket2::SockRef::from(&sock).recv_buffer_size().unwrap();
    assert_eq!(got, 2 * asked, "rmem_max {max}");
}
