//! DNS Cookies (RFC 7873) with the interoperable server cookie of RFC 9018, so that every
//! node given the same secret file recognises the cookies of the others.
//!
//! The pure parts live here: reading the COOKIE option of a query ([`Cookie::parse`], whose
//! `None` is the FORMERR of RFC 7873 section 5.2.2), building a server cookie
//! ([`server_cookie`]: version 1, three reserved bytes, a 32-bit timestamp and
//! SipHash-2-4 over client cookie | version | reserved | timestamp | client address under a
//! 16-byte secret), and judging the one a client sends back ([`check`]). Time is an argument
//! (Unix seconds); the shells read the clock. The secret file is `cookie/secret.rs`.
//!
//! What the answer core does with the verdict (docs/reliability.md): a client cookie alone or
//! with a server cookie that is not valid is answered normally with a fresh server cookie
//! (RFC 7873 sections 5.2.3 and 5.2.4); a valid one is echoed while it is under half an hour
//! old, renewed after (RFC 9018 section 4.3), and exempts the query from rate limiting. When
//! the rate limiter would drop or truncate an answer to a client that sent a cookie without a
//! valid server cookie, the slipped reply is BADCOOKIE carrying a fresh server cookie, so a
//! real client can retry at once with it.

mod secret;

use std::net::IpAddr;

pub use secret::{CookieSecret, SECRET_LEN, SecretError};

use super::siphash::siphash24;

/// EDNS option code of COOKIE.
pub const OPT_COOKIE: u16 = 10;
/// Length of a client cookie.
pub const CLIENT_LEN: usize = 8;
/// Length of the server cookies Meridian makes (RFC 9018).
pub const SERVER_LEN: usize = 16;
/// Extended RCODE BADCOOKIE (RFC 7873 section 8).
pub const RCODE_BADCOOKIE: u16 = 23;
/// A server cookie is taken for this long after its timestamp (RFC 9018 section 4.3)...
const MAX_AGE: i64 = 3600;
/// ... and this far in the future (clock skew between the nodes sharing a secret).
const MAX_SKEW: i64 = 300;
/// A valid server cookie older than this is replaced by a fresh one in the reply.
const RENEW_AFTER: i64 = 1800;

/// The COOKIE option of a query, copied out of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie {
    pub client: [u8; CLIENT_LEN],
    server: [u8; 32],
    server_len: u8,
}

impl Cookie {
    /// Reads an option body: a client cookie of 8 bytes, optionally followed by a server
    /// cookie of 8 to 32 bytes. Any other length is malformed (`None`: FORMERR).
    pub fn parse(data: &[u8]) -> Option<Cookie> {
        let n = data.len();
        if n != CLIENT_LEN && !(CLIENT_LEN + 8..=CLIENT_LEN + 32).contains(&n) {
            return None;
        }
        let mut c = Cookie {
            client: [0; CLIENT_LEN],
            server: [0; 32],
            server_len: (n - CLIENT_LEN) as u8,
        };
        c.client.copy_from_slice(&data[..CLIENT_LEN]);
        c.server[..n - CLIENT_LEN].copy_from_slice(&data[CLIENT_LEN..]);
        Some(c)
    }

    /// The server cookie the client sent back (empty when it sent its own only).
    pub fn server(&self) -> &[u8] {
        &self.server[..usize::from(self.server_len).min(32)]
    }
}

/// What a query's cookie proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A client cookie, with no server cookie or one this server did not make (or one that
    /// expired): answered normally with a fresh server cookie, still rate limited.
    ClientOnly,
    /// A server cookie this server (or a node with the same secret) made for this client
    /// address within the last hour: the source address is not spoofed.
    Valid,
}

/// The RFC 9018 server cookie for `client` at address `ip`, stamped `now`.
pub fn server_cookie(
    secret: &CookieSecret,
    client: &[u8; CLIENT_LEN],
    ip: IpAddr,
    now: u32,
) -> [u8; SERVER_LEN] {
    let mut out = [0u8; SERVER_LEN];
    out[0] = 1;
    out[4..8].copy_from_slice(&now.to_be_bytes());
    let hash = mac(secret, client, &out[..8], ip);
    out[8..].copy_from_slice(&hash);
    out
}

/// SipHash-2-4 over client cookie | version, reserved, timestamp (as sent) | client address.
fn mac(secret: &CookieSecret, client: &[u8; CLIENT_LEN], head: &[u8], ip: IpAddr) -> [u8; 8] {
    let mut msg = [0u8; CLIENT_LEN + 8 + 16];
    msg[..CLIENT_LEN].copy_from_slice(client);
    msg[CLIENT_LEN..CLIENT_LEN + 8].copy_from_slice(&head[..8]);
    let n = match ip {
        IpAddr::V4(a) => {
            msg[16..20].copy_from_slice(&a.octets());
            20
        }
        IpAddr::V6(a) => {
            msg[16..32].copy_from_slice(&a.octets());
            32
        }
    };
    siphash24(secret.bytes(), &msg[..n]).to_le_bytes()
}

/// Seconds from the cookie's timestamp to `now`, in serial-number arithmetic (RFC 1982), so
/// the 2106 wrap of the 32-bit field is harmless. Negative: stamped in the future.
fn age(stamp: u32, now: u32) -> i64 {
    i64::from(now.wrapping_sub(stamp) as i32)
}

/// Judges the cookie of a query from `ip` at `now`. The second value is true when the
/// reply should carry a fresh server cookie rather than echo the one received.
pub fn check(secret: &CookieSecret, c: &Cookie, ip: IpAddr, now: u32) -> (Verdict, bool) {
    let s = c.server();
    if s.len() != SERVER_LEN || s[0] != 1 {
        return (Verdict::ClientOnly, true);
    }
    let stamp = u32::from_be_bytes([s[4], s[5], s[6], s[7]]);
    let age = age(stamp, now);
    if !(-MAX_SKEW..=MAX_AGE).contains(&age) {
        return (Verdict::ClientOnly, true);
    }
    let want = mac(secret, &c.client, &s[..8], ip);
    // Compared without an early exit, so the time taken says nothing about the hash.
    let diff = want.iter().zip(&s[8..]).fold(0u8, |d, (a, b)| d | (a ^ b));
    if diff != 0 {
        return (Verdict::ClientOnly, true);
    }
    (Verdict::Valid, !(0..RENEW_AFTER).contains(&age))
}

/// The COOKIE option body of the reply: the client cookie, then either the server cookie
/// received (valid and fresh) or a new one.
pub fn reply(
    secret: &CookieSecret,
    c: &Cookie,
    ip: IpAddr,
    now: u32,
    renew: bool,
) -> [u8; CLIENT_LEN + SERVER_LEN] {
    let mut out = [0u8; CLIENT_LEN + SERVER_LEN];
    out[..CLIENT_LEN].copy_from_slice(&c.client);
    if renew || c.server().len() != SERVER_LEN {
        out[CLIENT_LEN..].copy_from_slice(&server_cookie(secret, &c.client, ip, now));
    } else {
        out[CLIENT_LEN..].copy_from_slice(c.server());
    }
    out
}

#[cfg(test)]
mod tests;
