//! Response rate limiting for UDP (`[server] rrl`), after Knot DNS's design: a token bucket
//! per (client prefix, response class), refilled at `rate` responses a second and holding
//! at most `rate × window`; a response that finds its bucket empty is limited, and every
//! `slip`-th limited response goes out truncated (TC=1, no records: a real client retries
//! over TCP, which is never limited) while the others are dropped.
//!
//! The buckets live in a fixed table owned by one UDP thread (no lock, no atomic, no
//! allocation after [`Table::new`]): `SETS` sets of `WAYS` slots, the set chosen by a keyed
//! SipHash of the prefix and class (a random key per table, so nobody can aim collisions at
//! another prefix). The table is lossy: when a set is full, the slot whose bucket is fullest
//! is reused, which forgets the client that was least limited; a prefix being limited is
//! forgotten only when every slot of its set holds one being limited too. Each of the N UDP
//! threads of an address enforces `rate / N` (rounded up), so traffic spread over the
//! threads (random source ports: resolvers and spoofed floods) gets about `rate` in all,
//! and a client that always uses one source port gets `rate / N`.
//!
//! Time is an argument (milliseconds from any fixed start); the UDP shell reads the clock
//! once per batch.

use std::net::IpAddr;

use crate::config::RrlSettings;
use crate::dns::answer::{Kind, Outcome};
use crate::dns::siphash::siphash24;

/// Sets in a table (a power of two).
const SETS: usize = 2048;
/// Slots per set.
const WAYS: usize = 4;
/// One response, in the buckets' unit (thousandths of a response).
const COST: u64 = 1000;

/// The response classes counted apart: a flood of one kind does not use up the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Records (static, service or a referral).
    Positive = 0,
    /// NXDOMAIN and NODATA.
    Negative = 1,
    /// REFUSED, FORMERR, NOTIMP, BADVERS and the like.
    Error = 2,
}

impl Class {
    pub fn of(o: &Outcome) -> Class {
        match o.kind {
            Kind::Answer | Kind::Service | Kind::Referral if o.rcode == 0 => Class::Positive,
            Kind::NoData | Kind::NxDomain => Class::Negative,
            _ => Class::Error,
        }
    }
}

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send,
    /// Send a truncated reply instead (or BADCOOKIE to a client that sent a cookie).
    Slip,
    Drop,
}

/// The limit one table enforces, derived from the settings and the number of tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Responses a second for this table.
    per_sec: u64,
    /// Bucket depth in thousandths of a response.
    depth: u64,
    slip: u32,
    prefix_v4: u8,
    prefix_v6: u8,
}

impl Limit {
    /// `None` when rate limiting is off (`rate = 0`). `tables`: the UDP threads sharing the
    /// address, each enforcing its share.
    pub fn new(s: &RrlSettings, tables: usize) -> Option<Limit> {
        if s.rate == 0 {
            return None;
        }
        let per_sec = u64::from(s.rate).div_ceil(tables.max(1) as u64);
        let window_ms = u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX);
        Some(Limit {
            per_sec,
            // rate (responses/s) × window (ms) = thousandths of a response; at least one.
            depth: per_sec.saturating_mul(window_ms).max(COST),
            slip: s.slip,
            prefix_v4: s.prefix_v4,
            prefix_v6: s.prefix_v6,
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Hash of (prefix, class), never 0; 0 = empty.
    tag: u64,
    /// When `tokens` was last brought up to date (ms).
    stamp: u64,
    tokens: u64,
    /// Responses limited since the slot was taken (drives the slip).
    limited: u32,
}

impl Slot {
    /// The bucket's level at `now` (an empty slot counts as full).
    fn level(&self, now: u64, l: &Limit) -> u64 {
        if self.tag == 0 {
            return l.depth;
        }
        let refill = now.saturating_sub(self.stamp).saturating_mul(l.per_sec);
        self.tokens.saturating_add(refill).min(l.depth)
    }
}

/// One thread's buckets.
pub struct Table {
    slots: Box<[Slot]>,
    key: [u8; 16],
}

impl Table {
    /// A table hashing with `key` (random in the server; fixed in tests).
    pub fn new(key: [u8; 16]) -> Table {
        Table {
            slots: vec![Slot::default(); SETS * WAYS].into_boxed_slice(),
            key,
        }
    }

    /// Takes one response of `class` to `client` at `now` (ms) from its bucket.
    pub fn check(&mut self, client: IpAddr, class: Class, now: u64, l: &Limit) -> Decision {
        let tag = self.tag(client, class, l);
        let set = ((tag >> 40) as usize & (SETS - 1)) * WAYS;
        let ways = &mut self.slots[set..set + WAYS];
        let mut pick = 0usize;
        let mut found = false;
        let mut fullest = 0u64;
        for (i, s) in ways.iter().enumerate() {
            if s.tag == tag {
                pick = i;
                found = true;
                break;
            }
            let level = s.level(now, l);
            if i == 0 || level > fullest {
                pick = i;
                fullest = level;
            }
        }
        let s = &mut ways[pick];
        if !found {
            *s = Slot {
                tag,
                stamp: now,
                tokens: l.depth,
                limited: 0,
            };
        }
        s.tokens = s.level(now, l);
        s.stamp = now;
        if s.tokens >= COST {
            s.tokens -= COST;
            return Decision::Send;
        }
        s.limited = s.limited.wrapping_add(1);
        if l.slip > 0 && s.limited.is_multiple_of(l.slip) {
            Decision::Slip
        } else {
            Decision::Drop
        }
    }

    /// The keyed hash of the client's prefix and the class (never 0).
    fn tag(&self, client: IpAddr, class: Class, l: &Limit) -> u64 {
        let mut b = [0u8; 17];
        match client.to_canonical() {
            IpAddr::V4(a) => {
                let keep = u32::from(l.prefix_v4.min(32));
                let mask = u32::MAX.checked_shl(32 - keep).unwrap_or(0);
                b[..4].copy_from_slice(&(u32::from(a) & mask).to_be_bytes());
                b[16] = class as u8;
            }
            IpAddr::V6(a) => {
                let keep = u32::from(l.prefix_v6.min(128));
                let mask = u128::MAX.checked_shl(128 - keep).unwrap_or(0);
                b[..16].copy_from_slice(&(u128::from(a) & mask).to_be_bytes());
                b[16] = 0x80 | class as u8;
            }
        }
        siphash24(&self.key, &b) | 1
    }
}

#[cfg(test)]
mod tests;
