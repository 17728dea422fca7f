//! A small DNS client for integration tests: builds queries with hickory-proto (EDNS with a
//! raw ECS option so malformed ones can be sent too), sends them over UDP or TCP from a chosen
//! loopback source address, and reads the OPT record of the reply byte for byte.

#![allow(dead_code)] // not every test binary uses every helper

#[path = "ports.rs"]
mod ports;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{Name, RecordType};

const TIMEOUT: Duration = Duration::from_secs(2);

/// How a query travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

/// The body of an ECS option (RFC 7871 section 6) for `addr/prefix`, the address cut to
/// the octets the prefix needs. Panics if `addr` has bits set beyond the prefix: a table
/// row written that way is a mistake in the table, not a test of the server.
pub fn ecs_body(addr: IpAddr, prefix: u8) -> Vec<u8> {
    let (family, bytes): (u16, Vec<u8>) = match addr {
        IpAddr::V4(a) => (1, a.octets().to_vec()),
        IpAddr::V6(a) => (2, a.octets().to_vec()),
    };
    assert!(usize::from(prefix) <= bytes.len() * 8, "{addr}/{prefix}");
    let n = usize::from(prefix).div_ceil(8);
    for (i, b) in bytes.iter().enumerate() {
        let keep_bits = usize::from(prefix).saturating_sub(i * 8).min(8);
        let mask = if keep_bits == 0 {
            0
        } else {
            0xffu8 << (8 - keep_bits)
        };
        assert_eq!(b & !mask, 0, "{addr}/{prefix} has bits beyond the prefix");
    }
    let mut body = family.to_be_bytes().to_vec();
    body.push(prefix);
    body.push(0);
    body.extend_from_slice(&bytes[..n]);
    body
}

/// A query for `name`/`rtype` with EDNS (payload 1232) and, if given, an ECS option whose
/// body is taken as is.
pub fn query(id: u16, name: &str, rtype: RecordType, ecs: Option<&[u8]>) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    if let Some(body) = ecs {
        edns.options_mut()
            .insert(EdnsOption::Unknown(8, body.to_vec()));
    }
    m.set_edns(edns);
    m.to_vec().unwrap()
}

/// Sends `q` from `src` (port chosen by the kernel) to `server` and returns the reply with
/// the same ID. UDP is retried twice on timeout.
pub fn exchange(proto: Proto, src: IpAddr, server: SocketAddr, q: &[u8]) -> Vec<u8> {
    match proto {
        Proto::Udp => udp(src, server, q),
        Proto::Tcp => tcp(src, server, q),
    }
}

fn udp(src: IpAddr, server: SocketAddr, q: &[u8]) -> Vec<u8> {
    let sock = UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = vec![0u8; 65535];
    for _ in 0..3 {
        sock.send_to(q, server).unwrap();
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == server && n >= 2 && buf[..2] == q[..2] => {
                    return buf[..n].to_vec();
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    panic!("no UDP reply from {server} to a query from {src}");
}

fn tcp(src: IpAddr, server: SocketAddr, q: &[u8]) -> Vec<u8> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(
        Domain::for_address(server),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .unwrap();
    sock.bind(&SocketAddr::new(src, 0).into()).unwrap();
    sock.connect_timeout(&server.into(), TIMEOUT)
        .unwrap_or_else(|e| panic!("TCP connect to {server} from {src}: {e}"));
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len)
        .unwrap_or_else(|e| panic!("TCP reply length from {server}: {e}"));
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).unwrap();
    body
}

/// The header RCODE (low 4 bits).
pub fn rcode(resp: &[u8]) -> u8 {
    resp[3] & 0x0f
}

fn skip_name(b: &[u8], mut p: usize) -> Option<usize> {
    loop {
        let l = *b.get(p)?;
        if l == 0 {
            return Some(p + 1);
        }
        if l & 0xc0 == 0xc0 {
            return Some(p + 2);
        }
        p += 1 + usize::from(l);
    }
}

fn u16_at(b: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(p)?, *b.get(p + 1)?]))
}

/// The OPT record's RDATA in the additional section, if there is one OPT.
pub fn opt_rdata(resp: &[u8]) -> Option<Vec<u8>> {
    let qd = u16_at(resp, 4)?;
    let an = u16_at(resp, 6)?;
    let ns = u16_at(resp, 8)?;
    let ar = u16_at(resp, 10)?;
    let mut p = 12;
    for _ in 0..qd {
        p = skip_name(resp, p)? + 4;
    }
    let mut found = None;
    for i in 0..(an + ns + ar) {
        p = skip_name(resp, p)?;
        let rtype = u16_at(resp, p)?;
        let rdlen = usize::from(u16_at(resp, p + 8)?);
        let rdata = resp.get(p + 10..p + 10 + rdlen)?;
        if rtype == 41 {
            assert!(i >= an + ns, "OPT outside the additional section");
            assert!(found.is_none(), "two OPT records");
            found = Some(rdata.to_vec());
        }
        p += 10 + rdlen;
    }
    assert_eq!(p, resp.len(), "trailing bytes after the last record");
    found
}

/// Every ECS option body in the reply's OPT record.
pub fn ecs_options(resp: &[u8]) -> Vec<Vec<u8>> {
    let Some(rd) = opt_rdata(resp) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut p = 0;
    while p + 4 <= rd.len() {
        let code = u16::from_be_bytes([rd[p], rd[p + 1]]);
        let len = usize::from(u16::from_be_bytes([rd[p + 2], rd[p + 3]]));
        assert!(p + 4 + len <= rd.len(), "OPT option overruns its record");
        if code == 8 {
            out.push(rd[p + 4..p + 4 + len].to_vec());
        }
        p += 4 + len;
    }
    assert_eq!(p, rd.len(), "OPT RDATA has trailing bytes");
    out
}

/// A port free for UDP and TCP on every address given (at the time of asking).
pub fn free_port(addrs: &[IpAddr]) -> u16 {
    ports::free_port(addrs)
}
