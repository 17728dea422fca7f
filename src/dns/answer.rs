//! The answer core: one query's bytes in, one response's bytes out, the way NSD answers.
//!
//! [`answer`] parses the query in place, picks the reply for malformed, unsupported or
//! out-of-zone queries (FORMERR, NOTIMP, BADVERS, REFUSED), and otherwise walks the zone
//! tree (`answer/resolve.rs`) writing sections into the caller's buffer with truncation
//! for UDP. It allocates nothing when the buffer was reserved up front.

mod limited;
mod opt;
mod resolve;
#[cfg(test)]
mod tests;

pub use limited::limited_reply;
use opt::{CookieReply, opt_len, write_opt, write_opt_scoped};

use std::net::{IpAddr, SocketAddr};

use crate::dns::cookie::{self, Verdict};
use crate::dns::encode::Writer;
use crate::dns::identity::{self, CLASS_CH};
use crate::dns::name::{self, MAX_NAME};
use crate::dns::wire::{
    self, Edns, FLAG_AA, FLAG_QR, FLAG_RD, FLAG_TC, HEADER_LEN, Header, ParseError, Query,
};
use crate::state::Snapshot;

pub const RCODE_NOERROR: u16 = 0;
pub const RCODE_FORMERR: u16 = 1;
pub const RCODE_NXDOMAIN: u16 = 3;
pub const RCODE_NOTIMP: u16 = 4;
pub const RCODE_REFUSED: u16 = 5;
pub const RCODE_YXDOMAIN: u16 = 6;
/// Extended RCODE BADVERS (RFC 6891): upper 8 bits 1 in the OPT TTL, header RCODE 0.
pub const RCODE_BADVERS: u16 = 16;

const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;

/// How the query arrived: UDP responses are limited and truncated, TCP ones are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What kind of reply was produced (for metrics and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Records for the name and type (possibly through CNAMEs).
    Answer,
    NoData,
    NxDomain,
    /// A delegation to a child zone.
    Referral,
    /// A name bound to a service.
    Service,
    Refused,
    FormErr,
    NotImp,
    BadVers,
    /// No reply at all (runt packet or a response).
    Dropped,
}

/// The result of answering one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub kind: Kind,
    /// The full (extended) response code.
    pub rcode: u16,
    pub truncated: bool,
    /// What the query's COOKIE option proved (None: no cookie, or cookies not served).
    pub cookie: Option<Verdict>,
    /// Set by the UDP shell when rate limiting replaced or dropped the answer.
    pub limited: Limited,
    /// The question's type (0 when the query had no readable question).
    pub qtype: u16,
    /// The query carried a well-formed EDNS Client Subnet option.
    pub ecs: bool,
}

/// What rate limiting did to a UDP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Limited {
    #[default]
    No,
    /// Replaced by a truncated reply (or BADCOOKIE).
    Slipped,
    Dropped,
}

impl Outcome {
    fn new(kind: Kind, rcode: u16) -> Outcome {
        Outcome {
            kind,
            rcode,
            truncated: false,
            cookie: None,
            limited: Limited::No,
            qtype: 0,
            ecs: false,
        }
    }
}

/// Answers `query` into `out` (cleared first; left empty when nothing must be sent), reading
/// the clock for the cookie timestamps: [`answer_at`] for the shells that read it per batch.
pub fn answer(
    snapshot: &Snapshot,
    query: &[u8],
    client: SocketAddr,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Outcome {
    answer_at(snapshot, query, client, transport, unix_now(), out)
}

/// The time as DNS Cookies count it: Unix seconds, modulo 2^32.
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// [`answer`] at `now` (Unix seconds, for DNS Cookies).
pub fn answer_at(
    snapshot: &Snapshot,
    query: &[u8],
    client: SocketAddr,
    transport: Transport,
    now: u32,
    out: &mut Vec<u8>,
) -> Outcome {
    match wire::parse_query(query) {
        Err(ParseError::Drop) => {
            out.clear();
            Outcome::new(Kind::Dropped, 0)
        }
        Err(ParseError::NotImp(h)) => {
            // As NSD: flags kept (opcode, RD, CD), no question, no OPT.
            let flags = (h.flags | FLAG_QR) & !0x0020 & !0x000F;
            error_reply(
                out,
                h.id,
                flags,
                RCODE_NOTIMP,
                None,
                snapshot.max_udp_payload,
            );
            Outcome::new(Kind::NotImp, RCODE_NOTIMP)
        }
        Err(ParseError::FormErr(h, edns)) => {
            // NSD keeps RD and the opcode, except for a wrong QDCOUNT where it clears all.
            let keep = if h.qdcount == 1 {
                FLAG_RD | 0x7800
            } else {
                0x7800
            };
            let flags = FLAG_QR | (h.flags & keep);
            error_reply(
                out,
                h.id,
                flags,
                RCODE_FORMERR,
                edns.as_ref(),
                snapshot.max_udp_payload,
            );
            Outcome::new(Kind::FormErr, RCODE_FORMERR)
        }
        Ok(q) => Outcome {
            qtype: q.qtype,
            ecs: q.edns.as_ref().is_some_and(|e| e.ecs.is_some()),
            ..answer_query(snapshot, &q, client, transport, now, out)
        },
    }
}

/// A header-only error reply, with an OPT record when the query's OPT was read.
fn error_reply(
    out: &mut Vec<u8>,
    id: u16,
    flags: u16,
    rcode: u16,
    edns: Option<&Edns>,
    max_udp: u16,
) {
    let mut w = Writer::new(out);
    w.u16(id);
    w.u16(flags | (rcode & 0x000F));
    w.bytes(&[0, 0, 0, 0, 0, 0, 0, 0]);
    if let Some(e) = edns {
        write_opt(&mut w, max_udp, rcode, e, None);
        w.set_u16(10, 1);
    }
}

/// The client address policy should use: a valid, routable ECS address, else the source.
pub fn effective_client(source: IpAddr, edns: Option<&Edns>) -> (IpAddr, Option<u8>) {
    match edns.and_then(|e| e.ecs) {
        Some(s) if s.source_prefix > 0 && is_routable(s.ip()) => (s.ip(), Some(s.source_prefix)),
        _ => (source, None),
    }
}

/// The SCOPE for an answer made from the source address because the query's ECS address is
/// not routable: the prefix of the special-purpose block holding that address, so a resolver
/// caches the answer for its whole private block and not for every client (RFC 7871
/// section 9: 10.1.2.0/24 gets scope 8). 0 when there is no such option or it has prefix 0.
fn unused_ecs_scope(edns: Option<&Edns>) -> u8 {
    let Some(s) = edns.and_then(|e| e.ecs).filter(|s| s.source_prefix > 0) else {
        return 0;
    };
    match s.ip() {
        IpAddr::V4(a) => match a.octets() {
            [10, ..] | [127, ..] | [0, ..] => 8,
            [172, b, ..] if b & 0xf0 == 16 => 12,
            [192, 168, ..] | [169, 254, ..] => 16,
            _ => 32,
        },
        IpAddr::V6(a) => match a.segments()[0] {
            x if x & 0xfe00 == 0xfc00 => 7,
            x if x & 0xffc0 == 0xfe80 => 10,
            _ => 128,
        },
    }
}

fn is_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            !(a.is_loopback()
                || a.is_unspecified()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

fn answer_query(
    snapshot: &Snapshot,
    q: &Query<'_>,
    client: SocketAddr,
    transport: Transport,
    now: u32,
    out: &mut Vec<u8>,
) -> Outcome {
    let max_udp = snapshot.max_udp_payload;
    let (verdict, cookie) = reply_cookie(snapshot, q, client, now);
    let cookie = cookie.as_ref();
    let mut w = Writer::new(out);
    let mut header = [0u8; HEADER_LEN];
    header[..2].copy_from_slice(&q.header.id.to_be_bytes());
    header[2..4].copy_from_slice(&(FLAG_QR | (q.header.flags & FLAG_RD)).to_be_bytes());
    header[5] = 1;
    w.bytes(&header);
    w.bytes(q.question);
    w.note_name(HEADER_LEN, q.qname);

    if q.qtype == TYPE_AXFR && transport == Transport::Udp {
        // As NSD: AXFR over UDP is NOTIMP, header only, query flags kept.
        let flags = (q.header.flags | FLAG_QR) & !0x0020;
        error_reply(
            w.into_buf(),
            q.header.id,
            flags,
            RCODE_NOTIMP,
            q.edns.as_ref(),
            max_udp,
        );
        return Outcome {
            cookie: verdict,
            ..Outcome::new(Kind::NotImp, RCODE_NOTIMP)
        };
    }
    if let Some(e) = q.edns.as_ref().filter(|e| e.version > 0) {
        write_opt(&mut w, max_udp, RCODE_BADVERS, e, cookie);
        w.set_u16(10, 1);
        return Outcome {
            cookie: verdict,
            ..Outcome::new(Kind::BadVers, RCODE_BADVERS)
        };
    }
    let limit = match transport {
        Transport::Tcp => u16::MAX as usize,
        Transport::Udp => match &q.edns {
            Some(e) => usize::from(e.payload.max(512).min(max_udp.max(512))),
            None => 512,
        },
    };
    // The identity goes out only when the query asked for it and the operator turned it on.
    let nsid = q
        .edns
        .as_ref()
        .filter(|e| e.nsid)
        .and(snapshot.identity.nsid.as_deref());
    let reserve = q.edns.as_ref().map_or(0, |e| opt_len(e, cookie, nsid));
    let mut lname_buf = [0u8; MAX_NAME];
    let lname = name::lower_into(q.qname, &mut lname_buf);
    let zone = snapshot.zones.find(lname);
    let class_ok = q.qclass == CLASS_IN || q.qclass == CLASS_ANY;
    let refused = !class_ok || zone.is_none() || q.qtype == TYPE_AXFR || q.qtype == TYPE_IXFR;
    let (kind, rcode, aa, truncated, scope) = match zone {
        Some(zone) if !refused => {
            let (client_ip, ecs_source) = effective_client(client.ip(), q.edns.as_ref());
            let mut r = resolve::Resp::new(w, limit.saturating_sub(reserve), transport);
            let res = resolve::resolve(snapshot, zone, q, lname, &mut r, client_ip, ecs_source);
            let tc = r.truncated();
            w = r.finish();
            let scope = match res.kind {
                _ if res.service && ecs_source.is_none() => unused_ecs_scope(q.edns.as_ref()),
                _ => res.scope,
            };
            (res.kind, res.rcode, res.aa, tc, scope)
        }
        // CH TXT id.server. / hostname.bind. when turned on; any other CH query is refused.
        _ if q.qclass == CLASS_CH
            && identity::chaos_answer(
                snapshot.identity.chaos.as_deref(),
                lname,
                q.qtype,
                &mut w,
            ) =>
        {
            (Kind::Answer, RCODE_NOERROR, true, false, 0)
        }
        _ => (Kind::Refused, RCODE_REFUSED, false, false, 0),
    };
    let mut flags = FLAG_QR | (q.header.flags & FLAG_RD) | (rcode & 0x000F);
    // Class ANY gets IN data, never marked authoritative (as NSD).
    if aa && q.qclass != CLASS_ANY {
        flags |= FLAG_AA;
    }
    if truncated {
        flags |= FLAG_TC;
    }
    w.set_u16(2, flags);
    if let Some(e) = &q.edns {
        // The OPT always fits: its space was reserved from the limit above.
        write_opt_scoped(&mut w, max_udp, rcode, e, scope, cookie, nsid);
        let ar = w.get_u16(10);
        w.set_u16(10, ar + 1);
    }
    Outcome {
        truncated,
        cookie: verdict,
        ..Outcome::new(kind, rcode)
    }
}

/// The COOKIE option of the reply and what the query's cookie proved, when the query carried
/// one and cookies are served.
fn reply_cookie(
    snapshot: &Snapshot,
    q: &Query<'_>,
    client: SocketAddr,
    now: u32,
) -> (Option<Verdict>, Option<CookieReply>) {
    let (Some(c), Some(secret)) = (
        q.edns.as_ref().and_then(|e| e.cookie),
        snapshot.cookie_secret.as_ref(),
    ) else {
        return (None, None);
    };
    let (verdict, renew) = cookie::check(secret, &c, client.ip(), now);
    (
        Some(verdict),
        Some(cookie::reply(secret, &c, client.ip(), now, renew)),
    )
}

/// Reads the header back (used by the servers' tests and the differential test).
pub fn header_of(resp: &[u8]) -> Option<Header> {
    Header::parse(resp)
}
