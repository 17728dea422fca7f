//! The seam between the static answer core and per-client service answers.
//!
//! When a query name is in [`Snapshot::services`], the answer core calls [`resolve`] with the
//! service index, the query type, the client address (the valid ECS address, else the
//! source) and the ECS source prefix; it gets back addresses, a TTL and the ECS scope to
//! echo. The result lives in a fixed-size [`ServiceAnswer`] so the call never allocates.
//! The decision itself is [`crate::policy::Compiled::select`].

use std::net::IpAddr;

use crate::policy::{Outcome, ServiceId};
use crate::state::Snapshot;

/// Most addresses one service answer carries.
pub const MAX_ADDRS: usize = 16;

/// What a service resolves to for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAnswer {
    pub addrs: [IpAddr; MAX_ADDRS],
    pub len: usize,
    pub ttl: u32,
    /// ECS scope prefix length to return (0 = valid for every client).
    pub scope: u8,
}

impl Default for ServiceAnswer {
    fn default() -> Self {
        ServiceAnswer {
            addrs: [IpAddr::from([0u8; 4]); MAX_ADDRS],
            len: 0,
            ttl: 0,
            scope: 0,
        }
    }
}

impl ServiceAnswer {
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs[..self.len.min(MAX_ADDRS)]
    }
}

thread_local! {
    /// Per-thread scratch for the policy's address list: allocated once per thread, on
    /// its first service answer (a const initialiser makes each access a plain TLS load).
    static SCRATCH: std::cell::RefCell<Vec<IpAddr>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Fills `out` with the addresses of `service` of family `qtype` (A or AAAA) for `client`.
/// The ECS scope is the policy's (the widest prefix with the same answer) when the client
/// address came from ECS, and 0 when it is the packet's source or the answer is NODATA
/// (negative answers carry scope 0, RFC 7871 section 7.4, as the design requires).
pub fn resolve(
    snapshot: &Snapshot,
    service: u32,
    qtype: u16,
    client: IpAddr,
    ecs_source: Option<u8>,
    out: &mut ServiceAnswer,
) {
    // Only `len` addresses are ever read: no need to clear the whole array again.
    out.len = 0;
    out.ttl = 0;
    out.scope = 0;
    let Some(policy) = snapshot.policy.as_deref() else {
        return;
    };
    let v6 = qtype == crate::dns::zone::TYPE_AAAA;
    SCRATCH.with(|scratch| {
        let Ok(mut addrs) = scratch.try_borrow_mut() else {
            return;
        };
        if addrs.capacity() < MAX_ADDRS {
            addrs.reserve(MAX_ADDRS);
        }
        let d = policy.select(ServiceId(service), client, v6, &snapshot.health, &mut addrs);
        out.ttl = d.ttl;
        let tailored = ecs_source.is_some() && d.outcome == Outcome::Answer;
        out.scope = if tailored { d.scope } else { 0 };
        if d.outcome == Outcome::Answer {
            for (slot, a) in out.addrs.iter_mut().zip(addrs.iter()) {
                *slot = *a;
            }
            out.len = addrs.len().min(MAX_ADDRS);
        }
    });
    crate::metrics::inc(&crate::metrics::METRICS.service_answers);
}
