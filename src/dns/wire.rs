//! Query parsing in place: header, the one question, the OPT record (EDNS version, flags,
//! payload), the EDNS Client Subnet option (RFC 7871) and the COOKIE option (RFC 7873),
//! validated strictly, and whether the NSID option (RFC 5001) was asked for.
//!
//! Nothing here allocates: a [`Query`] borrows the packet and copies the few fixed-size
//! fields it needs. What cannot be answered normally is a [`ParseError`] that says how the
//! answer core must reply (drop, NOTIMP or FORMERR).

use crate::dns::cookie::{Cookie, OPT_COOKIE};
use crate::dns::identity::OPT_NSID;

/// Length of the DNS header.
pub const HEADER_LEN: usize = 12;
/// RR type of the EDNS(0) pseudo-record.
pub const TYPE_OPT: u16 = 41;
/// EDNS option code of Client Subnet.
pub const OPT_ECS: u16 = 8;

pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
pub const FLAG_TC: u16 = 0x0200;
pub const FLAG_RD: u16 = 0x0100;
pub const FLAG_CD: u16 = 0x0010;

/// The fixed header, as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    /// The second 16-bit word: QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE.
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    /// Reads the header; `None` when the packet is shorter than a header.
    pub fn parse(pkt: &[u8]) -> Option<Header> {
        let w = |i: usize| -> Option<u16> {
            Some(u16::from_be_bytes([*pkt.get(i)?, *pkt.get(i + 1)?]))
        };
        Some(Header {
            id: w(0)?,
            flags: w(2)?,
            qdcount: w(4)?,
            ancount: w(6)?,
            nscount: w(8)?,
            arcount: w(10)?,
        })
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0F) as u8
    }
}

/// The Client Subnet option of a query, copied out of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ecs {
    /// 1 = IPv4, 2 = IPv6.
    pub family: u16,
    pub source_prefix: u8,
    pub scope_prefix: u8,
    /// The address bytes as sent (only `addr_len` of them), zero-padded.
    pub addr: [u8; 16],
    pub addr_len: u8,
}

impl Ecs {
    /// The client address the option names (the prefix, zero-extended).
    pub fn ip(&self) -> std::net::IpAddr {
        if self.family == 1 {
            let mut a = [0u8; 4];
            a.copy_from_slice(&self.addr[..4]);
            std::net::IpAddr::from(a)
        } else {
            std::net::IpAddr::from(self.addr)
        }
    }
}

/// The OPT record of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size as sent (may be below 512).
    pub payload: u16,
    pub version: u8,
    /// The 16 flag bits (DO is the top bit).
    pub flags: u16,
    pub ecs: Option<Ecs>,
    /// The COOKIE option (RFC 7873), well formed.
    pub cookie: Option<Cookie>,
    /// The query carries an NSID option (RFC 5001; its payload, normally empty, is ignored).
    pub nsid: bool,
}

impl Edns {
    pub fn dnssec_ok(&self) -> bool {
        self.flags & 0x8000 != 0
    }
}

/// A query that parsed cleanly (the question and OPT are valid).
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub header: Header,
    /// The question name as received (uncompressed wire form, case preserved).
    pub qname: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    /// The whole question entry (name, type, class) as received, for echoing.
    pub question: &'a [u8],
    pub edns: Option<Edns>,
}

/// Why a packet is not a normal query, and so how to reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// No reply: shorter than a header, or a response (QR set), as NSD does.
    Drop,
    /// Opcode other than QUERY: NOTIMP.
    NotImp(Header),
    /// Malformed: FORMERR. `edns` is the OPT record if it was read before the fault.
    FormErr(Header, Option<Edns>),
}

/// Parses `pkt` as a query.
pub fn parse_query(pkt: &[u8]) -> Result<Query<'_>, ParseError> {
    let header = Header::parse(pkt).ok_or(ParseError::Drop)?;
    if header.flags & FLAG_QR != 0 {
        return Err(ParseError::Drop);
    }
    if header.opcode() != 0 {
        return Err(ParseError::NotImp(header));
    }
    let formerr = ParseError::FormErr(header, None);
    if header.qdcount != 1 || header.flags & 0x000F != 0 {
        return Err(formerr);
    }
    let body = &pkt[HEADER_LEN..];
    let qlen = crate::dns::name::wire_len(body).ok_or(formerr)?;
    let qname = &body[..qlen];
    let fixed = body.get(qlen..qlen + 4).ok_or(formerr)?;
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
    let question = &body[..qlen + 4];
    let mut pos = HEADER_LEN + qlen + 4;
    for _ in 0..u32::from(header.ancount) + u32::from(header.nscount) {
        pos = skip_rr(pkt, pos).ok_or(formerr)?;
    }
    let mut edns = None;
    for _ in 0..header.arcount {
        let (next, opt) = parse_opt(pkt, pos, header)?;
        if edns.is_some() {
            return Err(ParseError::FormErr(header, edns));
        }
        edns = Some(opt);
        pos = next;
    }
    // Bytes after the last record are ignored, as NSD does.
    Ok(Query {
        header,
        qname,
        qtype,
        qclass,
        question,
        edns,
    })
}

/// Skips a possibly compressed name; returns the position after it.
fn skip_name(pkt: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *pkt.get(pos)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + len as usize,
            0xC0 => return (pos + 2 <= pkt.len()).then_some(pos + 2),
            _ => return None,
        }
    }
}

fn skip_rr(pkt: &[u8], pos: usize) -> Option<usize> {
    let pos = skip_name(pkt, pos)?;
    let fixed = pkt.get(pos..pos + 10)?;
    let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let end = pos + 10 + rdlen;
    (end <= pkt.len()).then_some(end)
}

/// Reads one additional-section record, which must be a well-formed OPT owned by the root.
fn parse_opt(pkt: &[u8], pos: usize, header: Header) -> Result<(usize, Edns), ParseError> {
    let formerr = ParseError::FormErr(header, None);
    if pkt.get(pos) != Some(&0) {
        return Err(formerr);
    }
    let f = pkt.get(pos + 1..pos + 11).ok_or(formerr)?;
    if u16::from_be_bytes([f[0], f[1]]) != TYPE_OPT {
        return Err(formerr);
    }
    let payload = u16::from_be_bytes([f[2], f[3]]);
    let version = f[5];
    let flags = u16::from_be_bytes([f[6], f[7]]);
    let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
    let start = pos + 11;
    let rdata = pkt.get(start..start + rdlen).ok_or(formerr)?;
    let mut edns = Edns {
        payload,
        version,
        flags,
        ecs: None,
        cookie: None,
        nsid: false,
    };
    let mut i = 0usize;
    while i < rdata.len() {
        let h = rdata.get(i..i + 4).ok_or(formerr)?;
        let code = u16::from_be_bytes([h[0], h[1]]);
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let data = rdata.get(i + 4..i + 4 + len).ok_or(formerr)?;
        if code == OPT_ECS {
            if edns.ecs.is_some() {
                return Err(formerr);
            }
            edns.ecs = Some(parse_ecs(data).ok_or(formerr)?);
        } else if code == OPT_COOKIE {
            // RFC 7873 section 5.2.2: a length other than 8 or 16..=40 is FORMERR.
            if edns.cookie.is_some() {
                return Err(formerr);
            }
            edns.cookie = Some(Cookie::parse(data).ok_or(formerr)?);
        } else if code == OPT_NSID {
            edns.nsid = true;
        }
        i += 4 + len;
    }
    Ok((start + rdlen, edns))
}

/// Validates an ECS option body (RFC 7871 section 6); public for the fuzzing harness.
pub fn parse_ecs(data: &[u8]) -> Option<Ecs> {
    let h = data.get(..4)?;
    let family = u16::from_be_bytes([h[0], h[1]]);
    let (source, scope) = (h[2], h[3]);
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return None,
    };
    if source > max {
        return None;
    }
    let addr_bytes = &data[4..];
    let want = source.div_ceil(8) as usize;
    if addr_bytes.len() != want {
        return None;
    }
    if source % 8 != 0 {
        let last = addr_bytes[want - 1];
        let mask = 0xFFu8 >> (source % 8);
        if last & mask != 0 {
            return None;
        }
    }
    let mut addr = [0u8; 16];
    addr[..want].copy_from_slice(addr_bytes);
    Some(Ecs {
        family,
        source_prefix: source,
        scope_prefix: scope,
        addr,
        addr_len: want as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(flags: u16, qd: u16, ar: u16, tail: &[u8]) -> Vec<u8> {
        let mut p = vec![0x12, 0x34];
        p.extend_from_slice(&flags.to_be_bytes());
        p.extend_from_slice(&qd.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(&ar.to_be_bytes());
        p.extend_from_slice(b"\x03www\x07Example\x04test\x00\x00\x01\x00\x01");
        p.extend_from_slice(tail);
        p
    }

    fn opt(payload: u16, version: u8, options: &[u8]) -> Vec<u8> {
        let mut o = vec![0, 0, 41];
        o.extend_from_slice(&payload.to_be_bytes());
        o.extend_from_slice(&[0, version, 0x80, 0]);
        o.extend_from_slice(&(options.len() as u16).to_be_bytes());
        o.extend_from_slice(options);
        o
    }

    fn ecs(family: u16, source: u8, addr: &[u8]) -> Vec<u8> {
        let mut e = vec![0, 8];
        e.extend_from_slice(&((4 + addr.len()) as u16).to_be_bytes());
        e.extend_from_slice(&family.to_be_bytes());
        e.extend_from_slice(&[source, 0]);
        e.extend_from_slice(addr);
        e
    }

    #[test]
    fn plain_query() {
        let p = query(0x0100, 1, 0, &[]);
        let q = parse_query(&p).unwrap();
        assert_eq!(q.header.id, 0x1234);
        assert_eq!(q.qname, b"\x03www\x07Example\x04test\x00");
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!(q.question.len(), q.qname.len() + 4);
        assert!(q.edns.is_none());
    }

    #[test]
    fn edns_and_ecs() {
        let mut opts = vec![0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]; // a client cookie
        opts.extend(ecs(1, 20, &[192, 0, 32]));
        let p = query(0, 1, 1, &opt(4096, 0, &opts));
        let e = parse_query(&p).unwrap().edns.unwrap();
        assert_eq!((e.payload, e.version, e.dnssec_ok()), (4096, 0, true));
        let s = e.ecs.unwrap();
        assert_eq!((s.family, s.source_prefix, s.addr_len), (1, 20, 3));
        assert_eq!(s.ip(), "192.0.32.0".parse::<std::net::IpAddr>().unwrap());
        let c = e.cookie.unwrap();
        assert_eq!((c.client, c.server().len()), ([1, 2, 3, 4, 5, 6, 7, 8], 0));
        let p6 = query(0, 1, 1, &opt(1232, 0, &ecs(2, 0, &[])));
        assert_eq!(
            parse_query(&p6)
                .unwrap()
                .edns
                .unwrap()
                .ecs
                .unwrap()
                .addr_len,
            0
        );
    }

    #[test]
    fn nsid_is_noticed() {
        let p = query(0, 1, 1, &opt(1232, 0, &[0, 3, 0, 0]));
        assert!(parse_query(&p).unwrap().edns.unwrap().nsid);
        let p = query(
            0,
            1,
            1,
            &opt(1232, 0, &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]),
        );
        assert!(!parse_query(&p).unwrap().edns.unwrap().nsid);
    }

    #[test]
    fn bad_ecs_is_formerr() {
        for bad in [
            ecs(3, 8, &[10]),
            ecs(1, 33, &[1, 2, 3, 4, 5]),
            ecs(2, 129, &[0; 17]),
            ecs(1, 20, &[192, 0]),
            ecs(1, 20, &[192, 0, 32, 0]),
            ecs(1, 20, &[192, 0, 33]),
            vec![0, 8, 0, 2, 0, 1],
        ] {
            let p = query(0, 1, 1, &opt(1232, 0, &bad));
            assert!(
                matches!(parse_query(&p), Err(ParseError::FormErr(..))),
                "{bad:?}"
            );
        }
        let mut two = ecs(1, 8, &[10]);
        two.extend(ecs(1, 8, &[10]));
        let p = query(0, 1, 1, &opt(1232, 0, &two));
        assert!(matches!(parse_query(&p), Err(ParseError::FormErr(..))));
    }

    #[test]
    fn bad_cookies_are_formerr() {
        for len in [0u16, 7, 9, 15, 41] {
            let mut o = vec![0, 10];
            o.extend_from_slice(&len.to_be_bytes());
            o.extend(std::iter::repeat_n(1u8, usize::from(len)));
            let p = query(0, 1, 1, &opt(1232, 0, &o));
            assert!(
                matches!(parse_query(&p), Err(ParseError::FormErr(..))),
                "{len}"
            );
        }
        let one = [0u8, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        let p = query(0, 1, 1, &opt(1232, 0, &[one, one].concat()));
        assert!(matches!(parse_query(&p), Err(ParseError::FormErr(..))));
        let mut full = vec![0, 10, 0, 24];
        full.extend_from_slice(&[9; 24]);
        let p = query(0, 1, 1, &opt(1232, 0, &full));
        let c = parse_query(&p).unwrap().edns.unwrap().cookie.unwrap();
        assert_eq!(c.server(), &[9; 16]);
    }

    #[test]
    fn malformed_packets() {
        assert_eq!(parse_query(&[0; 11]).unwrap_err(), ParseError::Drop);
        assert_eq!(
            parse_query(&query(0x8000, 1, 0, &[])).unwrap_err(),
            ParseError::Drop
        );
        assert!(matches!(
            parse_query(&query(0x2800, 1, 0, &[])),
            Err(ParseError::NotImp(_))
        ));
        assert!(matches!(
            parse_query(&query(0, 2, 0, &[])),
            Err(ParseError::FormErr(..))
        ));
        assert!(matches!(
            parse_query(&query(0, 0, 0, &[])),
            Err(ParseError::FormErr(..))
        ));
        let mut p = query(0, 1, 0, &[]);
        p.truncate(p.len() - 1);
        assert!(matches!(parse_query(&p), Err(ParseError::FormErr(..))));
        assert!(
            parse_query(&query(0, 1, 0, &[0, 1, 2])).is_ok(),
            "trailing bytes are ignored"
        );
        assert!(matches!(
            parse_query(&query(0, 1, 1, &[0])),
            Err(ParseError::FormErr(..))
        ));
        let mut two = opt(1232, 0, &[]);
        two.extend(opt(1232, 0, &[]));
        match parse_query(&query(0, 1, 2, &two)) {
            Err(ParseError::FormErr(_, Some(e))) => assert_eq!(e.payload, 1232),
            other => panic!("{other:?}"),
        }
        // OPT with an option running past its RDATA.
        let p = query(0, 1, 1, &opt(1232, 0, &[0, 10, 0, 9, 1]));
        assert!(matches!(parse_query(&p), Err(ParseError::FormErr(..))));
        // A version-1 OPT still parses; the answer core turns it into BADVERS.
        let p = query(0, 1, 1, &opt(1232, 1, &[]));
        assert_eq!(parse_query(&p).unwrap().edns.unwrap().version, 1);
    }
}
