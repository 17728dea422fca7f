//! Drain as a state. A real server put in drain (an operator's override, `drain = true` in the
//! configuration, or a failing check with `on_failure = "drain"`) keeps weight 0 while the
//! kernel still counts connections on it, and is deleted once it counts none, or when the
//! service's `drain_deadline` has passed since the drain began; it stays out while the drain
//! lasts and comes back with its weight when the drain ends.
//!
//! [`DrainBook::settle`] is pure: the reconciler feeds it the kernel's real servers as last
//! dumped and the time (a monotonic offset), and it takes finished drains out of the desired
//! state, so that `diff` stays a plain comparison and deletes them. A count is only trusted
//! when it was read after the kernel already had weight 0 for that real server (`fresh`), so
//! no connection scheduled between a read and the delete can be cut.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{Protocol, VirtualKey};

use super::desired::DesiredService;
use super::model::Dest;

/// Why a drain ended with the real server's removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainEnd {
    /// The kernel counted no connection left.
    Idle,
    /// `drain_deadline` passed with connections left.
    Deadline,
    /// The real server was not in the kernel when its drain began: nothing to drain.
    Absent,
}

impl DrainEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            DrainEnd::Idle => "connections ended",
            DrainEnd::Deadline => "deadline passed",
            DrainEnd::Absent => "was not in the kernel",
        }
    }
}

/// One real server's drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    /// When the drain began (the reconciler's clock).
    pub since: Duration,
    /// None while connections remain.
    pub ended: Option<DrainEnd>,
}

/// Every drain in progress or finished, per service and real server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainBook {
    services: BTreeMap<VirtualKey, BTreeMap<SocketAddr, Drain>>,
}

/// The connections that keep a draining real server in. UDP has no connection states: every
/// entry counts until it expires.
pub fn remaining(key: &VirtualKey, d: &Dest) -> u64 {
    let udp = matches!(
        key,
        VirtualKey::Addr {
            protocol: Protocol::Udp,
            ..
        }
    );
    let inactive = if udp { d.inactive_conns } else { 0 };
    u64::from(d.active_conns) + u64::from(inactive)
}

impl DrainBook {
    /// Settle one service's drains against its real servers as the kernel has them (`have`,
    /// empty when the service is absent) at `now`; finished drains leave `want.dests`.
    /// `fresh`: the counts in `have` were read in this pass. Returns how many drains ended.
    pub fn settle(
        &mut self,
        key: &VirtualKey,
        want: &mut DesiredService,
        have: &[Dest],
        deadline: Option<Duration>,
        now: Duration,
        fresh: bool,
    ) -> usize {
        if want.draining.is_empty() {
            self.services.remove(key);
            return 0;
        }
        let book = self.services.entry(*key).or_default();
        book.retain(|a, _| want.draining.contains(a));
        let mut ended = 0;
        for addr in &want.draining {
            let cur = have.iter().find(|d| d.conf.addr == *addr);
            let d = book.entry(*addr).or_insert(Drain {
                since: now,
                ended: cur.is_none().then_some(DrainEnd::Absent),
            });
            if d.ended.is_none() {
                let overdue = deadline.is_some_and(|dl| now.saturating_sub(d.since) >= dl);
                let idle = |c: &Dest| fresh && c.conf.weight == 0 && remaining(key, c) == 0;
                d.ended = match cur {
                    None => Some(DrainEnd::Absent),
                    Some(_) if overdue => Some(DrainEnd::Deadline),
                    Some(c) if idle(c) => Some(DrainEnd::Idle),
                    Some(_) => None,
                };
                ended += usize::from(d.ended.is_some());
            }
            if d.ended.is_some() {
                want.dests.remove(addr);
            }
        }
        ended
    }

    /// Forget the services that are no longer managed.
    pub fn keep_only(&mut self, managed: impl Fn(&VirtualKey) -> bool) {
        self.services.retain(|k, _| managed(k));
    }

    /// Services with a drain still waiting for its connections to end.
    pub fn waiting(&self) -> impl Iterator<Item = &VirtualKey> {
        self.services
            .iter()
            .filter(|(_, b)| b.values().any(|d| d.ended.is_none()))
            .map(|(k, _)| k)
    }

    pub fn is_waiting(&self) -> bool {
        self.waiting().next().is_some()
    }

    pub fn get(&self, key: &VirtualKey, addr: &SocketAddr) -> Option<Drain> {
        self.services.get(key)?.get(addr).copied()
    }
}

/// Settle every service's drains against a table; returns how many ended.
pub fn settle_all(
    drains: &mut DrainBook,
    lvs: &crate::config::Lvs,
    want: &mut super::desired::Desired,
    table: &super::model::Table,
    now: Duration,
    fresh: bool,
) -> usize {
    let mut ended = 0;
    let mut index = None;
    for s in &lvs.services {
        let Some(w) = want.services.get_mut(&s.key) else {
            continue;
        };
        // Only a service with drains needs its real servers looked up.
        let have = if w.draining.is_empty() {
            &[][..]
        } else {
            let index = index.get_or_insert_with(|| {
                table
                    .services
                    .iter()
                    .map(|(t, d)| (t.conf.key, d.as_slice()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            });
            index.get(&s.key).copied().unwrap_or(&[])
        };
        ended += drains.settle(&s.key, w, have, s.drain_deadline, now, fresh);
    }
    drains.keep_only(|k| want.services.contains_key(k));
    ended
}

#[cfg(test)]
mod tests;
