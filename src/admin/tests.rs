//! The admin endpoint under real loopback sockets from several 127/8 addresses: keep-alive,
//! the size limits, one prefix at its cap leaving others served, and connections that never
//! complete a request (or never read the answer) closed at the deadline.

#![allow(clippy::disallowed_methods)] // real sockets: wall-clock deadlines are what is measured

use std::io::{BufRead, BufReader, Read, Write};
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

/// `GET /status` from `src` with `Connection: close`: the status line, or empty when the
/// server closed at once.
fn get(src: [u8; 4], server: SocketAddr) -> String {
    let mut s = connect(src, server);
    if s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
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

/// Reads one answer (status line, headers, body by Content-Length) off a kept-alive stream.
fn read_answer(r: &mut BufReader<&TcpStream>) -> (String, Vec<(String, String)>, String) {
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (
        status.trim_end().to_string(),
        headers,
        String::from_utf8(body).unwrap(),
    )
}

struct Running {
    _rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn start(max_per_prefix: usize) -> Running {
    start_with(max_per_prefix, 0)
}

/// With a status document padded to `pad` bytes (an answer too large for socket buffers).
fn start_with(max_per_prefix: usize, pad: usize) -> Running {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let state = Arc::new(AdminState {
        token: "0123456789abcdef".into(),
        read: AdminRead::Open,
        status: Box::new(move || match pad {
            0 => serde_json::json!({"ok": true}),
            n => serde_json::json!({"ok": true, "pad": "p".repeat(n)}),
        }),
        overrides: None,
        reload: None,
    });
    let admin = rt
        .block_on(Admin::bind("127.0.0.1:0".parse().unwrap(), state))
        .unwrap()
        .with_settings(AdminSettings {
            limits: ConnLimits {
                max_connections: 16,
                max_per_prefix,
                prefix_v4: 24,
                prefix_v6: 56,
            },
            timeout: DEADLINE,
        });
    let addr = admin.local_addr().unwrap();
    rt.spawn(admin.run(shutdown.clone()));
    Running {
        _rt: rt,
        addr,
        shutdown,
    }
}

#[test]
fn two_requests_on_one_connection_then_limits_on_head_and_body() {
    let server = start(4);
    let s = connect([127, 0, 3, 1], server.addr);
    let mut r = BufReader::new(&s);
    (&s).write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_answer(&mut r);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "{\"ok\":true}")
    );
    (&s).write_all(b"PUT /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let (status, headers, _) = read_answer(&mut r);
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(
        headers.contains(&("allow".into(), "GET".into())),
        "{headers:?}"
    );
    (&s).write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut r).0, "HTTP/1.1 200 OK");

    // A head over MAX_HEAD: 431, then closed.
    let mut big = connect([127, 0, 3, 2], server.addr);
    let filler = "a".repeat(MAX_HEAD);
    let req = format!("GET /status HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n");
    // The server may close before it has read everything: a failed write is fine.
    let _sent = big.write_all(req.as_bytes());
    let mut out = String::new();
    let _read = big.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");

    // A body over MAX_BODY: 413 at once from Content-Length, and when streamed as chunks.
    let mut b = connect([127, 0, 3, 3], server.addr);
    let head = format!(
        "POST /overrides HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    b.write_all(head.as_bytes()).unwrap();
    let mut out = String::new();
    let _read = b.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    let mut c = connect([127, 0, 3, 4], server.addr);
    c.write_all(b"POST /overrides HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 32 * 1024, "b".repeat(32 * 1024));
    for _ in 0..3 {
        if c.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let mut out = String::new();
    let _read = c.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

#[test]
fn a_body_that_never_comes_is_cut_at_the_deadline() {
    let server = start(4);
    let mut s = connect([127, 0, 4, 1], server.addr);
    let t = Instant::now();
    s.write_all(b"POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        .unwrap();
    let mut out = String::new();
    let _read = s.read_to_string(&mut out);
    let took = t.elapsed();
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(
        took >= DEADLINE - Duration::from_millis(100) && took < DEADLINE + Duration::from_secs(1),
        "{took:?}"
    );
}

#[test]
fn a_prefix_at_its_cap_leaves_others_served_and_idle_ones_end_at_the_deadline() {
    let server = start(2);
    let addr = server.addr;
    assert_eq!(get([127, 0, 1, 1], addr), "HTTP/1.1 200 OK");
    // Two connections that send half a request hold 127.0.1.0/24's places.
    // Taken before the connections: the server's deadline starts at each accept, after this.
    let since = Instant::now();
    let held: Vec<TcpStream> = (1..=2)
        .map(|i| {
            let mut s = connect([127, 0, 1, i], addr);
            s.write_all(b"GET /status HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get([127, 0, 1, 3], addr), "", "prefix cap not in force");
    assert_eq!(get([127, 0, 2, 1], addr), "HTTP/1.1 200 OK");
    assert_eq!(get([127, 2, 0, 1], addr), "HTTP/1.1 200 OK");
    // At the deadline the held connections are closed; the prefix is served again.
    let mut answered = None;
    while since.elapsed() < Duration::from_secs(5) {
        if get([127, 0, 1, 3], addr) == "HTTP/1.1 200 OK" {
            answered = Some(since.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let answered = answered.expect("held connections never closed");
    assert!(
        answered >= DEADLINE - Duration::from_millis(50)
            && answered <= DEADLINE + Duration::from_millis(3000),
        "{answered:?}"
    );
    for mut s in held {
        let mut out = Vec::new();
        // Closed (end of stream, or a reset for the unread request), not left open.
        match s.read_to_end(&mut out) {
            Ok(_) => assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out)),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
    // An idle keep-alive connection is closed at the deadline too.
    let s = connect([127, 0, 5, 1], addr);
    let mut r = BufReader::new(&s);
    (&s).write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut r).0, "HTTP/1.1 200 OK");
    let t = Instant::now();
    let mut rest = Vec::new();
    let _read = r.read_to_end(&mut rest);
    assert!(
        t.elapsed() < DEADLINE + Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    drop(server);
}

#[test]
fn a_client_that_does_not_read_its_answer_is_cut_at_the_deadline() {
    // 16 MB: more than the socket buffers on both sides hold.
    let server = start_with(1, 16 << 20);
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.bind(&SocketAddr::from((Ipv4Addr::new(127, 0, 6, 1), 0)).into())
        .unwrap();
    sock.connect_timeout(&server.addr.into(), Duration::from_secs(2))
        .unwrap();
    let mut stuck: TcpStream = sock.into();
    stuck
        .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let since = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    // The prefix's one place is held by the stuck answer...
    assert_eq!(
        get([127, 0, 6, 2], server.addr),
        "",
        "prefix cap not in force"
    );
    // ...until the write deadline (the request's deadline, or a second after the handler)
    // ends that connection.
    let mut freed = None;
    while since.elapsed() < Duration::from_secs(6) {
        if get([127, 0, 6, 2], server.addr) == "HTTP/1.1 200 OK" {
            freed = Some(since.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let freed = freed.expect("the stuck answer was never abandoned");
    assert!(freed < DEADLINE + Duration::from_millis(2500), "{freed:?}");
    drop(stuck);
}
