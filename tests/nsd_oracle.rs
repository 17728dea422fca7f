//! NSD as the oracle: the same fixture zones served by NSD (child process) and by
//! Meridian (in-process, real sockets), the same queries sent to both over UDP and TCP,
//! and rcode, flags, answer and authority compared as sets of records. Deliberate
//! differences are named per query and listed in docs/dns-behaviour.md.

#[path = "support/nsd.rs"]
mod nsd;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::Record;
use meridian::dns::DnsServer;
use meridian::state::{Snapshot, shared};
use tokio_util::sync::CancellationToken;

const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("DNAME", 39),
    ("DS", 43),
    ("CAA", 257),
    ("ANY", 255),
    ("AXFR", 252),
    ("IXFR", 251),
];

fn qtype(t: &str) -> u16 {
    TYPES
        .iter()
        .find(|(n, _)| *n == t)
        .map(|(_, v)| *v)
        .unwrap()
}

fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

/// How a query is sent.
#[derive(Clone, Debug)]
struct Case {
    label: String,
    packet: Vec<u8>,
    tcp: bool,
    /// A difference kept on purpose (see docs/dns-behaviour.md): what is allowed to differ.
    known: Option<Known>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Known {
    /// RFC 6604: NXDOMAIN for a CNAME chain ending in a name that does not exist.
    ChainRcode,
    /// RFC 7871 section 6: Meridian refuses malformed ECS with FORMERR; NSD ignores ECS.
    EcsFormErr,
    /// NOTIFY (opcode 4): NSD answers it (no ACL -> its own refusal); Meridian has no
    /// zone transfer and answers NOTIMP.
    Notify,
    /// RFC 7873 section 5.2.2: Meridian answers a COOKIE option of a bad length with
    /// FORMERR; NSD 4.6 does not implement cookies and ignores it.
    CookieFormErr,
}

fn query(
    id: u16,
    flags: u16,
    name: &str,
    qt: u16,
    qclass: u16,
    edns: Option<(u16, u8, u16, &[u8])>,
) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&flags.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    p.extend(wire_name(name));
    p.extend_from_slice(&qt.to_be_bytes());
    p.extend_from_slice(&qclass.to_be_bytes());
    if let Some((payload, version, eflags, opts)) = edns {
        p.push(0);
        p.extend_from_slice(&41u16.to_be_bytes());
        p.extend_from_slice(&payload.to_be_bytes());
        p.extend_from_slice(&[0, version]);
        p.extend_from_slice(&eflags.to_be_bytes());
        p.extend_from_slice(&(opts.len() as u16).to_be_bytes());
        p.extend_from_slice(opts);
    }
    p
}

fn ecs(family: u16, source: u8, addr: &[u8]) -> Vec<u8> {
    let mut e = vec![0, 8];
    e.extend_from_slice(&((4 + addr.len()) as u16).to_be_bytes());
    e.extend_from_slice(&family.to_be_bytes());
    e.extend_from_slice(&[source, 0]);
    e.extend_from_slice(addr);
    e
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut id = 1u16;
    let mut push = |label: String, packet: Vec<u8>, tcp: bool, known: Option<Known>| {
        v.push(Case {
            label,
            packet,
            tcp,
            known,
        });
    };
    let names: &[(&str, &[&str])] = &[
        (
            "example.test",
            &[
                "SOA", "NS", "MX", "TXT", "CAA", "A", "AAAA", "ANY", "SRV", "DS",
            ],
        ),
        ("www.example.test", &["A", "AAAA", "MX", "ANY", "CNAME"]),
        ("WwW.ExAmPlE.TeSt", &["A", "AAAA"]),
        ("mail.example.test", &["A", "ANY"]),
        ("txt.example.test", &["TXT"]),
        ("_sip._tcp.example.test", &["SRV", "A"]),
        ("naptr.example.test", &["NAPTR"]),
        ("ptr.example.test", &["PTR"]),
        ("caa.example.test", &["CAA"]),
        ("80.2.0.192.in-addr.arpa", &["PTR", "A"]),
        ("alias.example.test", &["A", "AAAA", "CNAME", "TXT"]),
        ("alias3.example.test", &["A", "MX"]),
        ("ALIAS2.example.TEST", &["A"]),
        ("outside.example.test", &["A"]),
        ("cross.example.test", &["A", "AAAA", "TXT"]),
        ("back.other.test", &["A"]),
        ("loop1.example.test", &["A"]),
        ("b.example.test", &["A", "TXT"]),
        ("a.b.example.test", &["A", "ANY"]),
        ("x.a.b.example.test", &["A"]),
        ("anything.wild.example.test", &["A", "TXT", "AAAA", "ANY"]),
        ("y.wild.example.test", &["A"]),
        ("x.y.wild.example.test", &["A", "TXT"]),
        ("deep.er.wild.example.test", &["A"]),
        ("q.cw.example.test", &["A", "CNAME"]),
        ("nothing.example.test", &["MX", "A"]),
        ("dn.example.test", &["DNAME", "A"]),
        ("www.dn.example.test", &["A"]),
        ("host.dn.example.test", &["AAAA"]),
        ("child.example.test", &["NS", "A", "DS"]),
        ("foo.child.example.test", &["A"]),
        ("ns1.child.example.test", &["A"]),
        ("nope.other.test", &["A"]),
        ("other.test", &["SOA", "NS"]),
        ("www.nowhere.invalid", &["A"]),
        ("test", &["SOA"]),
        ("example.test", &["AXFR", "IXFR"]),
    ];
    for (name, types) in names {
        for t in *types {
            let qt = qtype(t);
            let known = (*name == "dangling.example.test").then_some(Known::ChainRcode);
            push(
                format!("{name} {t} udp"),
                query(id, 0x0100, name, qt, 1, None),
                false,
                known,
            );
            push(
                format!("{name} {t} udp edns"),
                query(id, 0, name, qt, 1, Some((1232, 0, 0, &[]))),
                false,
                known,
            );
            push(
                format!("{name} {t} tcp"),
                query(id, 0, name, qt, 1, Some((4096, 0, 0x8000, &[]))),
                true,
                known,
            );
            id = id.wrapping_add(1);
        }
    }
    // A dangling in-zone CNAME: RFC 6604 rcode on purpose.
    for tcp in [false, true] {
        push(
            format!("dangling A tcp={tcp}"),
            query(9, 0, "dangling.example.test", 1, 1, None),
            tcp,
            Some(Known::ChainRcode),
        );
    }
    // Truncation: payload sizes around the big RRsets, then the same over TCP.
    for name in [
        "big.example.test",
        "manya.example.test",
        "bigmx.example.test",
    ] {
        let t = if name.starts_with("big.") {
            16
        } else if name.starts_with("bigmx") {
            15
        } else {
            1
        };
        push(
            format!("{name} no edns"),
            query(id, 0, name, t, 1, None),
            false,
            None,
        );
        for payload in [0u16, 100, 512, 600, 800, 1000, 1232, 1400, 4096] {
            push(
                format!("{name} payload {payload}"),
                query(id, 0, name, t, 1, Some((payload, 0, 0, &[]))),
                false,
                None,
            );
        }
        push(
            format!("{name} tcp"),
            query(id, 0, name, t, 1, None),
            true,
            None,
        );
        id = id.wrapping_add(1);
    }
    // EDNS version 1, DO bit, ECS (valid and malformed), unknown options.
    push(
        "edns v1".into(),
        query(
            id,
            0x0100,
            "www.example.test",
            1,
            1,
            Some((1232, 1, 0, &[])),
        ),
        false,
        None,
    );
    push(
        "edns v1 tcp".into(),
        query(id, 0, "www.example.test", 1, 1, Some((1232, 1, 0, &[]))),
        true,
        None,
    );
    push(
        "edns v1 nx".into(),
        query(id, 0, "nx.example.test", 1, 1, Some((1232, 1, 0, &[]))),
        false,
        None,
    );
    push(
        "cookie option".into(),
        query(
            id,
            0,
            "www.example.test",
            1,
            1,
            Some((1232, 0, 0, &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])),
        ),
        false,
        None,
    );
    // Cookies: a client cookie with a server cookie NSD (4.6, no cookies) ignores and
    // Meridian does not recognise: both answer normally (Meridian adds a fresh cookie,
    // which the comparison does not look at). Bad lengths: FORMERR from Meridian.
    let mut with_server = vec![0, 10, 0, 24, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 0];
    with_server.extend_from_slice(&[0x5c, 0xf7, 0x9f, 0x11, 9, 9, 9, 9, 9, 9, 9, 9]);
    push(
        "cookie option with an unknown server cookie".into(),
        query(
            id,
            0,
            "www.example.test",
            1,
            1,
            Some((1232, 0, 0, &with_server)),
        ),
        false,
        None,
    );
    for len in [0u8, 7, 9, 15, 41] {
        let mut o = vec![0, 10, 0, len];
        o.extend(std::iter::repeat_n(1u8, usize::from(len)));
        push(
            format!("cookie of {len} bytes"),
            query(id, 0, "www.example.test", 1, 1, Some((1232, 0, 0, &o))),
            false,
            Some(Known::CookieFormErr),
        );
    }
    let good = ecs(1, 24, &[198, 51, 100]);
    push(
        "ecs v4".into(),
        query(id, 0, "www.example.test", 1, 1, Some((1232, 0, 0, &good))),
        false,
        None,
    );
    let good6 = ecs(2, 56, &[0x20, 1, 0xd, 0xb8, 0, 0, 0]);
    push(
        "ecs v6".into(),
        query(id, 0, "www.example.test", 28, 1, Some((1232, 0, 0, &good6))),
        false,
        None,
    );
    for (i, bad) in [
        ecs(1, 24, &[198, 51, 100, 7]),
        ecs(1, 23, &[198, 51, 101]),
        ecs(3, 8, &[1]),
        ecs(1, 40, &[1; 5]),
    ]
    .iter()
    .enumerate()
    {
        push(
            format!("bad ecs {i}"),
            query(id, 0, "www.example.test", 1, 1, Some((1232, 0, 0, bad))),
            false,
            Some(Known::EcsFormErr),
        );
    }
    // Opcodes other than QUERY.
    for op in [1u16, 2, 3, 5, 6, 15] {
        push(
            format!("opcode {op}"),
            query(id, op << 11, "www.example.test", 1, 1, None),
            false,
            None,
        );
    }
    push(
        "opcode notify".into(),
        query(id, 4 << 11, "example.test", 6, 1, None),
        false,
        Some(Known::Notify),
    );
    // Malformed packets.
    let base = query(id, 0x0100, "www.example.test", 1, 1, None);
    let mut two_q = base.clone();
    two_q[5] = 2;
    push("qdcount 2".into(), two_q, false, None);
    let mut zero_q = base.clone();
    zero_q[5] = 0;
    push("qdcount 0".into(), zero_q, false, None);
    push(
        "truncated question".into(),
        base[..base.len() - 2].to_vec(),
        false,
        None,
    );
    push(
        "trailing garbage".into(),
        [base.clone(), vec![1, 2, 3]].concat(),
        false,
        None,
    );
    let mut qr = base.clone();
    qr[2] |= 0x80;
    push("qr set (dropped)".into(), qr, false, None);
    let mut arc = base.clone();
    arc[11] = 1;
    push("arcount without record".into(), arc, false, None);
    let mut two_opt = query(id, 0, "www.example.test", 1, 1, Some((1232, 0, 0, &[])));
    two_opt[11] = 2;
    two_opt.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    push("two OPT".into(), two_opt, false, None);
    let mut bad_opt = query(
        id,
        0,
        "www.example.test",
        1,
        1,
        Some((1232, 0, 0, &[0, 10, 0, 9, 1])),
    );
    bad_opt.truncate(bad_opt.len());
    push("OPT option overrun".into(), bad_opt, false, None);
    push("header only".into(), base[..12].to_vec(), false, None);
    push("runt (dropped)".into(), base[..7].to_vec(), false, None);
    push(
        "class CH".into(),
        query(id, 0, "www.example.test", 1, 3, None),
        false,
        None,
    );
    push(
        "class ANY".into(),
        query(id, 0, "www.example.test", 1, 255, None),
        false,
        None,
    );
    v
}

fn exchange(addr: SocketAddr, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    if tcp {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(packet);
        s.write_all(&framed).ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).ok()?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).ok()?;
        Some(buf)
    } else {
        let s = UdpSocket::bind("127.0.0.1:0").ok()?;
        s.set_read_timeout(Some(Duration::from_millis(700))).ok()?;
        s.send_to(packet, addr).ok()?;
        let mut buf = vec![0u8; 65535];
        let (n, _) = s.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }
}

fn rr_set(rs: &[Record]) -> BTreeSet<String> {
    rs.iter()
        .map(|r| r.to_string().to_ascii_lowercase())
        .collect()
}

/// (flags word without RA/AD/CD, extended rcode, answer set, authority set)
type Summary = (u16, u16, BTreeSet<String>, BTreeSet<String>);

fn summarize(resp: &[u8]) -> Result<Summary, String> {
    if resp.len() < 12 {
        return Err(format!("short response {resp:?}"));
    }
    let flags = u16::from_be_bytes([resp[2], resp[3]]) & !0x00B0;
    let m = Message::from_vec(resp).map_err(|e| format!("unparsable response: {e}"))?;
    let ext = m.edns.as_ref().map_or(0, |e| u16::from(e.rcode_high()));
    Ok((
        flags,
        (ext << 4) | (flags & 0xF),
        rr_set(&m.answers),
        rr_set(&m.authorities),
    ))
}

/// Compares; returns a description of the difference, if any.
fn compare(nsd: Option<&[u8]>, mer: Option<&[u8]>, known: Option<Known>) -> Option<String> {
    let (n, m) = match (nsd, mer) {
        (None, None) => return None,
        (Some(_), None) => return Some("Meridian sent nothing, NSD answered".into()),
        (None, Some(_)) => return Some("NSD sent nothing, Meridian answered".into()),
        (Some(n), Some(m)) => (n, m),
    };
    let (n, m) = match (summarize(n), summarize(m)) {
        (Ok(n), Ok(m)) => (n, m),
        (n, m) => return Some(format!("parse: nsd {:?} meridian {:?}", n.err(), m.err())),
    };
    match known {
        Some(Known::ChainRcode) if n.1 == 0 && m.1 == 3 && n.2 == m.2 && n.3 == m.3 => return None,
        Some(Known::EcsFormErr) if m.1 == 1 => return None,
        Some(Known::Notify) if m.1 == 4 => return None,
        Some(Known::CookieFormErr) if m.1 == 1 && m.2.is_empty() => return None,
        _ => {}
    }
    if n.0 != m.0 || n.1 != m.1 {
        return Some(format!(
            "flags/rcode: nsd {:#06x}/{} meridian {:#06x}/{}",
            n.0, n.1, m.0, m.1
        ));
    }
    if n.2 != m.2 {
        return Some(format!("answer: nsd {:?} meridian {:?}", n.2, m.2));
    }
    if n.3 != m.3 {
        // Positive answers may differ only in NSD's optional apex NS RRset in authority.
        let only_ns = !n.2.is_empty()
            && m.3.is_subset(&n.3)
            && n.3
                .difference(&m.3)
                .all(|r| r.split_whitespace().nth(3) == Some("ns"));
        if !only_ns {
            return Some(format!("authority: nsd {:?} meridian {:?}", n.3, m.3));
        }
    }
    None
}

#[test]
fn meridian_answers_like_nsd() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/zones");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    let zones: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let f = p.file_name().unwrap().to_str().unwrap().to_string();
            (f.trim_end_matches(".zone").to_string(), f)
        })
        .collect();
    let nsd = nsd::Nsd::start(&dir, &zones);

    let (set, errors) = meridian::dns::load_zones(&files);
    assert!(errors.is_empty(), "zone errors: {errors:?}");
    assert_eq!(set.len(), files.len());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let state = shared(Snapshot::new(set, 1232));
    let server = rt
        .block_on(async {
            DnsServer::start_with_threads(
                &["127.0.0.1:0".parse().unwrap()],
                state,
                shutdown.clone(),
                1,
            )
        })
        .unwrap();
    let mer_addr = server.local_addrs()[0];

    let cases = cases();
    assert!(cases.len() >= 150, "only {} queries", cases.len());
    let mut failures = Vec::new();
    let mut answered = 0usize;
    for c in &cases {
        let n = exchange(nsd.addr, &c.packet, c.tcp);
        let m = exchange(mer_addr, &c.packet, c.tcp);
        answered += usize::from(m.is_some());
        if let Some(diff) = compare(n.as_deref(), m.as_deref(), c.known) {
            failures.push(format!("{}: {diff}", c.label));
        }
    }
    shutdown.cancel();
    rt.block_on(server.join());
    assert!(answered > 140, "Meridian answered only {answered} queries");
    assert!(
        failures.is_empty(),
        "{} of {} queries differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn fixture_snapshot() -> Snapshot {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/zones");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let (set, errors) = meridian::dns::load_zones(&files);
    assert!(errors.is_empty(), "{errors:?}");
    Snapshot::new(set, 1232)
}

/// The UDP fast path and the TCP listener answer through one core: for every query whose
/// UDP answer is not truncated, both transports return the same bytes.
#[test]
fn udp_and_tcp_give_the_same_answers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let server = rt
        .block_on(async {
            DnsServer::start_with_threads(
                &["127.0.0.1:0".parse().unwrap()],
                shared(fixture_snapshot()),
                shutdown.clone(),
                2,
            )
        })
        .unwrap();
    let addr = server.local_addrs()[0];
    let (mut same, mut truncated) = (0, 0);
    // AXFR differs by design: NOTIMP over UDP, REFUSED over TCP (as NSD).
    for c in cases()
        .iter()
        .filter(|c| !c.tcp && !c.label.contains("AXFR"))
    {
        let u = exchange(addr, &c.packet, false);
        let t = exchange(addr, &c.packet, true);
        let Some(u) = u else {
            assert!(t.is_none(), "{}: TCP answered, UDP did not", c.label);
            continue;
        };
        if u[2] & 0x02 != 0 {
            truncated += 1;
            let t = t.unwrap_or_else(|| panic!("{}: no TCP answer", c.label));
            assert!(
                t.len() > u.len(),
                "{}: TCP answer not larger than the truncated one",
                c.label
            );
            continue;
        }
        assert_eq!(Some(&u), t.as_ref(), "{}", c.label);
        same += 1;
    }
    shutdown.cancel();
    rt.block_on(server.join());
    assert!(
        same > 100 && truncated > 5,
        "same {same}, truncated {truncated}"
    );
}

/// Counts heap allocations made on the current thread while `COUNTING` is set.
#[path = "support/alloc_counter.rs"]
mod alloc_counter;

#[global_allocator]
static ALLOC: alloc_counter::Counting = alloc_counter::Counting;

/// The answer core allocates nothing once the output buffer is reserved.
#[test]
fn answering_does_not_allocate() {
    use alloc_counter::{COUNT, COUNTING};
    let snap = fixture_snapshot();
    let client: SocketAddr = "192.0.2.7:5353".parse().unwrap();
    let cases = cases();
    let mut out = Vec::with_capacity(70_000);
    COUNTING.with(|c| c.set(true));
    for c in &cases {
        let t = if c.tcp {
            meridian::dns::Transport::Tcp
        } else {
            meridian::dns::Transport::Udp
        };
        meridian::dns::answer(&snap, &c.packet, client, t, &mut out);
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        COUNT.with(|c| c.get()),
        0,
        "allocations while answering {} queries",
        cases.len()
    );
}
