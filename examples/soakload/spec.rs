//! The soak's expected answers: reading the spec file and checking one reply against it.

use anyhow::{Context, bail};

/// One line of the spec: the query and the answers it may get.
pub struct Query {
    pub line: String,
    /// The query on the wire (ID 0, to be set per send).
    pub wire: Vec<u8>,
    rcode: u8,
    /// Each accepted answer section, as sorted `TYPE=DATA` items.
    pub alts: Vec<Vec<String>>,
}

pub struct Spec {
    pub queries: Vec<Query>,
}

const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
];
const RCODES: &[(&str, u8)] = &[
    ("NOERROR", 0),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("REFUSED", 5),
];

fn type_code(t: &str) -> Option<u16> {
    TYPES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(t))
        .map(|&(_, c)| c)
}

fn type_name(c: u16) -> String {
    TYPES
        .iter()
        .find(|&&(_, v)| v == c)
        .map_or_else(|| format!("TYPE{c}"), |(n, _)| (*n).to_string())
}

impl Spec {
    pub fn read(path: &str) -> anyhow::Result<Spec> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{path}: cannot read"))?;
        let mut queries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("{path}:{}", i + 1);
            let mut f = line.splitn(4, char::is_whitespace);
            let (Some(name), Some(t), Some(rc), Some(rest)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                bail!("{}: want NAME TYPE RCODE ALT [| ALT]...", at());
            };
            let qtype = type_code(t).with_context(|| format!("{}: unknown type {t}", at()))?;
            let rcode = RCODES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(rc))
                .map(|&(_, c)| c)
                .with_context(|| format!("{}: unknown rcode {rc}", at()))?;
            let alts = rest
                .split('|')
                .map(|a| {
                    let a = a.trim();
                    let mut items: Vec<String> = if a == "-" {
                        Vec::new()
                    } else {
                        a.split(',').map(|s| s.trim().to_string()).collect()
                    };
                    items.sort();
                    items
                })
                .collect();
            queries.push(Query {
                line: format!("{name} {t}"),
                wire: build_query(name, qtype),
                rcode,
                alts,
            });
        }
        if queries.is_empty() {
            bail!("{path}: no queries");
        }
        Ok(Spec { queries })
    }
}

fn build_query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

fn u16_at(m: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(p)?, *m.get(p + 1)?]))
}

/// Reads the (possibly compressed) name at `p`: its text and the offset after it.
fn read_name(m: &[u8], mut p: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut end = None;
    for _ in 0..128 {
        let l = *m.get(p)?;
        if l & 0xC0 == 0xC0 {
            end.get_or_insert(p + 2);
            p = usize::from(u16_at(m, p)? & 0x3FFF);
            continue;
        }
        if l == 0 {
            return Some((
                if out.is_empty() { ".".into() } else { out },
                end.unwrap_or(p + 1),
            ));
        }
        let label = m.get(p + 1..p + 1 + usize::from(l))?;
        out.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
        out.push('.');
        p += 1 + usize::from(l);
    }
    None
}

/// One answer record as `TYPE=DATA`.
fn render(m: &[u8], rtype: u16, start: usize, rd: &[u8]) -> Option<String> {
    let data = match (rtype, rd.len()) {
        (1, 4) => std::net::IpAddr::from(<[u8; 4]>::try_from(rd).ok()?).to_string(),
        (28, 16) => std::net::IpAddr::from(<[u8; 16]>::try_from(rd).ok()?).to_string(),
        (2 | 5, _) => read_name(m, start)?.0,
        (15, _) => format!("{}/{}", u16_at(rd, 0)?, read_name(m, start + 2)?.0),
        (16, _) => {
            let (mut s, mut p) = (Vec::new(), 0);
            while p < rd.len() {
                let l = usize::from(rd[p]);
                s.push(String::from_utf8_lossy(rd.get(p + 1..p + 1 + l)?).into_owned());
                p += 1 + l;
            }
            s.join("/")
        }
        _ => rd.iter().map(|b| format!("{b:02x}")).collect(),
    };
    Some(format!("{}={data}", type_name(rtype)))
}

/// Checks a reply: its header, question, RCODE, and an answer section equal to one ALT.
/// Returns which ALT it matched.
pub fn check(q: &Query, m: &[u8]) -> Result<usize, String> {
    let bad = || "malformed reply".to_string();
    if m.len() < 12 || m[2] & 0x80 == 0 || m[2] & 0x02 != 0 {
        return Err("not a complete response (QR unset or TC set)".into());
    }
    let rcode = m[3] & 0x0F;
    if rcode != q.rcode {
        return Err(format!("rcode {rcode}, want {}", q.rcode));
    }
    if u16_at(m, 4) != Some(1) || m.get(12..q.wire.len()) != q.wire.get(12..) {
        return Err("question section differs".into());
    }
    let ancount = u16_at(m, 6).ok_or_else(bad)?;
    let mut p = q.wire.len();
    let mut got = Vec::new();
    for _ in 0..ancount {
        let (_, after) = read_name(m, p).ok_or_else(bad)?;
        let rtype = u16_at(m, after).ok_or_else(bad)?;
        let rdlen = usize::from(u16_at(m, after + 8).ok_or_else(bad)?);
        let start = after + 10;
        let rd = m.get(start..start + rdlen).ok_or_else(bad)?;
        got.push(render(m, rtype, start, rd).ok_or_else(bad)?);
        p = start + rdlen;
    }
    got.sort();
    q.alts
        .iter()
        .position(|a| *a == got)
        .ok_or_else(|| format!("answer [{}]", got.join(",")))
}
