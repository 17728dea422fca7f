//! The reply's OPT record: our payload size, the extended RCODE bits, DO echoed, the ECS
//! option echoed with its SCOPE, the COOKIE option (client cookie and server cookie) and,
//! when asked for and turned on, the NSID option (RFC 5001). Assembled on the stack and
//! appended once, since it runs for every EDNS query; NSID follows it when present.

use crate::dns::cookie::{CLIENT_LEN, OPT_COOKIE, SERVER_LEN};
use crate::dns::encode::Writer;
use crate::dns::identity::OPT_NSID;
use crate::dns::wire::{self, Edns};

/// The COOKIE option body of a reply.
pub(super) type CookieReply = [u8; CLIENT_LEN + SERVER_LEN];

/// Bytes the OPT record will take in the reply.
pub(super) fn opt_len(e: &Edns, cookie: Option<&CookieReply>, nsid: Option<&[u8]>) -> usize {
    11 + e.ecs.map_or(0, |s| 8 + s.addr_len as usize)
        + cookie.map_or(0, |c| 4 + c.len())
        + nsid.map_or(0, |n| 4 + n.len())
}

/// Writes the OPT; SCOPE as given (RFC 7871 section 7.2.1: 0 for static data). `nsid` is
/// the identity to send, already checked against the query's NSID option.
pub(super) fn write_opt_scoped(
    w: &mut Writer<'_>,
    max_udp: u16,
    rcode: u16,
    e: &Edns,
    scope: u8,
    cookie: Option<&CookieReply>,
    nsid: Option<&[u8]>,
) {
    let mut b = [0u8; 11 + (4 + 4 + 16) + (4 + CLIENT_LEN + SERVER_LEN)];
    b[1..3].copy_from_slice(&wire::TYPE_OPT.to_be_bytes());
    b[3..5].copy_from_slice(&max_udp.to_be_bytes());
    b[5] = (rcode >> 4) as u8;
    b[7..9].copy_from_slice(&(e.flags & 0x8000).to_be_bytes());
    let mut n = 11;
    if let Some(s) = e.ecs {
        let alen = usize::from(s.addr_len).min(16);
        let len = 4 + alen as u16;
        b[n..n + 2].copy_from_slice(&wire::OPT_ECS.to_be_bytes());
        b[n + 2..n + 4].copy_from_slice(&len.to_be_bytes());
        b[n + 4..n + 6].copy_from_slice(&s.family.to_be_bytes());
        b[n + 6] = s.source_prefix;
        b[n + 7] = scope;
        b[n + 8..n + 8 + alen].copy_from_slice(&s.addr[..alen]);
        n += 8 + alen;
    }
    if let Some(c) = cookie {
        b[n..n + 2].copy_from_slice(&OPT_COOKIE.to_be_bytes());
        b[n + 2..n + 4].copy_from_slice(&(c.len() as u16).to_be_bytes());
        b[n + 4..n + 4 + c.len()].copy_from_slice(c);
        n += 4 + c.len();
    }
    let nsid_len = nsid.map_or(0, |id| 4 + id.len());
    b[9..11].copy_from_slice(&((n - 11 + nsid_len) as u16).to_be_bytes());
    w.bytes(&b[..n]);
    if let Some(id) = nsid {
        w.u16(OPT_NSID);
        w.u16(id.len() as u16);
        w.bytes(id);
    }
}

pub(super) fn write_opt(
    w: &mut Writer<'_>,
    max_udp: u16,
    rcode: u16,
    e: &Edns,
    cookie: Option<&CookieReply>,
) {
    write_opt_scoped(w, max_udp, rcode, e, 0, cookie, None);
}
