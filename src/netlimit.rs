//! Connection caps for the TCP listeners (DNS over TCP and the admin endpoint): a global cap
//! and a cap per client prefix (by default a /24 in IPv4, a /56 in IPv6), so that one client
//! holding connections open locks out only its own neighbourhood, not every other client.
//!
//! A [`Slot`] is taken at accept time and given back when the connection ends (on drop). The
//! limits are read at each accept, so a reload can change them without a restart.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::ConnLimits;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the global cap of {0} connections is reached")]
    Total(usize),
    #[error("the cap of {0} connections per client prefix is reached")]
    Prefix(usize),
}

/// The client prefix `ip` counts against: v4-mapped IPv6 addresses count as IPv4.
pub fn client_prefix(ip: IpAddr, limits: &ConnLimits) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let keep = u32::from(limits.prefix_v4.min(32));
            let mask = u32::MAX.checked_shl(32 - keep).unwrap_or(0);
            IpAddr::from((bits & mask).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let keep = u32::from(limits.prefix_v6.min(128));
            let mask = u128::MAX.checked_shl(128 - keep).unwrap_or(0);
            IpAddr::from((bits & mask).to_be_bytes())
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_prefix: HashMap<IpAddr, usize>,
}

/// Open connections, in total and per client prefix.
#[derive(Debug, Default)]
pub struct Limiter {
    counts: Mutex<Counts>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<Limiter>,
    prefix: IpAddr,
}

impl Limiter {
    pub fn new() -> Arc<Limiter> {
        Arc::new(Limiter::default())
    }

    /// Admits a connection from `peer` if neither cap is reached.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, limits: &ConnLimits) -> Result<Slot, Refused> {
        let prefix = client_prefix(peer, limits);
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if c.total >= limits.max_connections {
            return Err(Refused::Total(limits.max_connections));
        }
        let n = c.by_prefix.entry(prefix).or_insert(0);
        if *n >= limits.max_per_prefix {
            return Err(Refused::Prefix(limits.max_per_prefix));
        }
        *n += 1;
        c.total += 1;
        Ok(Slot {
            limiter: self.clone(),
            prefix,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_prefix.get_mut(&self.prefix) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_prefix.remove(&self.prefix);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize) -> ConnLimits {
        ConnLimits {
            max_connections: total,
            max_per_prefix: per,
            prefix_v4: 24,
            prefix_v6: 56,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_group_neighbours() {
        let l = limits(9, 9);
        assert_eq!(client_prefix(ip("192.0.2.77"), &l), ip("192.0.2.0"));
        assert_eq!(client_prefix(ip("::ffff:192.0.2.77"), &l), ip("192.0.2.0"));
        assert_eq!(
            client_prefix(ip("2001:db8:1:2ff::1"), &l),
            ip("2001:db8:1:200::")
        );
        let host = ConnLimits {
            prefix_v4: 32,
            prefix_v6: 128,
            ..l
        };
        assert_eq!(client_prefix(ip("192.0.2.77"), &host), ip("192.0.2.77"));
        let all = ConnLimits {
            prefix_v4: 0,
            prefix_v6: 0,
            ..l
        };
        assert_eq!(client_prefix(ip("192.0.2.77"), &all), ip("0.0.0.0"));
    }

    #[test]
    fn caps_per_prefix_and_in_total_and_slots_come_back() {
        let lim = Limiter::new();
        let l = limits(3, 2);
        let a1 = lim.admit(ip("127.0.1.1"), &l).unwrap();
        let _a2 = lim.admit(ip("127.0.1.2"), &l).unwrap();
        assert_eq!(
            lim.admit(ip("127.0.1.3"), &l).unwrap_err(),
            Refused::Prefix(2)
        );
        let _b1 = lim.admit(ip("127.0.2.1"), &l).unwrap();
        assert_eq!(
            lim.admit(ip("127.0.3.1"), &l).unwrap_err(),
            Refused::Total(3)
        );
        drop(a1);
        assert_eq!(lim.open(), 2);
        assert!(lim.admit(ip("127.0.1.3"), &l).is_ok());
    }
}
