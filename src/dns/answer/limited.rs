//! The reply sent in place of an answer the rate limiter stopped (a "slip", see
//! `dns::rrl`): the header and the question with TC set and no records, so a real client
//! retries over TCP, which is never limited. A client that sent a cookie without a valid
//! server cookie gets BADCOOKIE with a fresh server cookie instead (RFC 7873 section 5.2.3):
//! it can retry at once over UDP with the cookie, which exempts it from the limit. Either
//! reply is about the size of the query, so slipping amplifies nothing.

use std::net::SocketAddr;

use super::opt::write_opt;
use super::{FLAG_QR, FLAG_RD, FLAG_TC, HEADER_LEN, reply_cookie};
use crate::dns::cookie::RCODE_BADCOOKIE;
use crate::dns::encode::Writer;
use crate::dns::wire;
use crate::state::Snapshot;

/// Writes the slipped reply to `query` into `out`; returns its RCODE (the answer's own
/// `rcode`, or BADCOOKIE). `out` is left empty when the query does not parse (the limiter
/// only sees queries that were answered, so that does not happen).
pub fn limited_reply(
    snapshot: &Snapshot,
    query: &[u8],
    client: SocketAddr,
    now: u32,
    rcode: u16,
    out: &mut Vec<u8>,
) -> u16 {
    let Ok(q) = wire::parse_query(query) else {
        out.clear();
        return rcode;
    };
    let (_, cookie) = reply_cookie(snapshot, &q, client, now);
    let (rcode, tc) = match cookie {
        Some(_) => (RCODE_BADCOOKIE, 0),
        None => (rcode, FLAG_TC),
    };
    let mut w = Writer::new(out);
    let mut header = [0u8; HEADER_LEN];
    header[..2].copy_from_slice(&q.header.id.to_be_bytes());
    let flags = FLAG_QR | (q.header.flags & FLAG_RD) | tc | (rcode & 0x000F);
    header[2..4].copy_from_slice(&flags.to_be_bytes());
    header[5] = 1;
    w.bytes(&header);
    w.bytes(q.question);
    if let Some(e) = &q.edns {
        write_opt(&mut w, snapshot.max_udp_payload, rcode, e, cookie.as_ref());
        w.set_u16(10, 1);
    }
    rcode
}
