//! The TCP listener under hostile clients, over real loopback sockets with several source
//! addresses in 127/8: one client prefix at its cap leaves other prefixes served, and a
//! client that sends queries and never reads is dropped within the I/O deadline. Every loop
//! is bounded in count and in time.

#![allow(clippy::disallowed_methods)] // real sockets: wall-clock deadlines are what is measured

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::*;
use crate::config::{ConnLimits, TcpSettings};
use crate::dns::zone::{ZoneSet, build_zone};
use crate::dns::zonefile::{WireName, parse_str};
use crate::state::{Snapshot, shared};

const IO_TIMEOUT: Duration = Duration::from_millis(800);

/// A zone whose `big` TXT RRset makes answers of about 8 KB, to fill socket buffers fast.
fn snapshot() -> Snapshot {
    let mut text = String::from("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
    for i in 0..32 {
        text.push_str(&format!("big TXT \"{i:03}{}\"\n", "x".repeat(240)));
    }
    let origin = WireName::from_ascii("t.test.", &WireName::root()).unwrap();
    let parsed = parse_str(&text, Path::new("t.test.zone"), &origin).unwrap();
    let mut set = ZoneSet::default();
    set.insert(build_zone(&parsed, Path::new("t.test.zone")).unwrap());
    let mut snap = Snapshot::new(set, 1232);
    snap.tcp = TcpSettings {
        limits: ConnLimits {
            max_connections: 32,
            max_per_prefix: 4,
            prefix_v4: 24,
            prefix_v6: 56,
        },
        idle_timeout: Duration::from_secs(60),
        io_timeout: IO_TIMEOUT,
    };
    snap
}

/// A query for `name` TXT, followed by `pad` ignored bytes (bytes after the last record
/// are ignored), so that few queries fill the server's receive buffer.
fn query(id: u16, name: &str, pad: usize) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 16, 0, 1]);
    q.resize(q.len() + pad, 0);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    framed
}

/// A connection from `src` (any port) with small buffers.
fn connect(src: [u8; 4], server: SocketAddr) -> TcpStream {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.set_send_buffer_size(4096).unwrap();
    sock.bind(&SocketAddr::from((Ipv4Addr::from(src), 0)).into())
        .unwrap();
    sock.connect_timeout(&server.into(), Duration::from_secs(2))
        .unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

/// One query and its answer's ID, or why there was none (EOF: the server closed).
fn exchange(s: &mut TcpStream, id: u16) -> std::io::Result<u16> {
    s.write_all(&query(id, "big.t.test", 0))?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body)?;
    Ok(u16::from_be_bytes([body[0], body[1]]))
}

/// Asks from `src` until answered, at most `limit`; returns how long it took.
fn served_within(src: [u8; 4], server: SocketAddr, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let mut s = connect(src, server);
        if exchange(&mut s, 7).ok() == Some(7) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn start() -> (tokio::runtime::Runtime, SocketAddr, CancellationToken) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let state = shared(snapshot());
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(listener, state, shutdown.clone()));
    (rt, addr, shutdown)
}

#[test]
fn a_prefix_at_its_cap_leaves_others_served() {
    let (_rt, server, shutdown) = start();
    // Four idle connections from 127.0.1.0/24 fill that prefix's cap.
    let mut held: Vec<TcpStream> = (1..=4).map(|i| connect([127, 0, 1, i], server)).collect();
    assert_eq!(exchange(&mut held[0], 1).unwrap(), 1);
    // A fifth from the same /24 is closed without an answer.
    let mut fifth = connect([127, 0, 1, 5], server);
    assert!(exchange(&mut fifth, 2).is_err());
    // Other prefixes are served at once, several times over.
    for (i, src) in [[127, 0, 2, 1], [127, 0, 3, 1], [127, 1, 1, 1]]
        .iter()
        .enumerate()
    {
        let mut s = connect(*src, server);
        assert_eq!(exchange(&mut s, 10 + i as u16).unwrap(), 10 + i as u16);
    }
    // Closing one held connection gives the prefix its place back.
    held.pop();
    assert!(served_within([127, 0, 1, 6], server, Duration::from_secs(3)).is_some());
    shutdown.cancel();
}

#[test]
fn a_client_that_never_reads_is_dropped_within_the_io_deadline() {
    let (_rt, server, shutdown) = start();
    let _idle: Vec<TcpStream> = (1..=3).map(|i| connect([127, 0, 1, i], server)).collect();
    let mut flood = connect([127, 0, 1, 4], server);
    flood
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Queries until the write blocks: the server's answers are no longer read, so it stops
    // reading queries. Bounded: 20 000 queries or 15 s.
    let q = query(9, "big.t.test", 4000);
    let start = Instant::now();
    let mut sent = 0;
    let stalled = loop {
        assert!(
            sent < 20_000 && start.elapsed() < Duration::from_secs(15),
            "never stalled"
        );
        match flood.write_all(&q) {
            Ok(()) => sent += 1,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break Instant::now();
            }
            Err(e) => panic!("write failed before stalling after {sent} queries: {e}"),
        }
    };
    // The prefix is full (3 idle + the flooder) until the server drops the flooder.
    let mut probe = connect([127, 0, 1, 9], server);
    assert!(exchange(&mut probe, 3).is_err(), "prefix cap not in force");
    let waited = served_within([127, 0, 1, 9], server, Duration::from_secs(10))
        .expect("the non-reading client was never dropped");
    let since_stall = stalled.elapsed();
    assert!(
        // Generous: the machine may be busy; a client never dropped fails above.
        since_stall <= IO_TIMEOUT + Duration::from_millis(3000),
        "dropped {since_stall:?} after the stall (deadline {IO_TIMEOUT:?}, {sent} queries, waited {waited:?})"
    );
    shutdown.cancel();
}
