//! The seam between the static answer core and per-client service answers.
//!
//! When a query name is in [`Snapshot::services`], the answer core calls [`resolve`] with the
//! service index, the query type, the client address (the valid ECS address, else the
//! source) and the ECS source prefix; it gets back addresses, a TTL and the ECS scope to
//! echo. The result lives in a fixed-size [`ServiceAnswer`] so the call never allocates.
//! Today no names are bound and `resolve` answers with no addresses (NODATA); the policy
//! issue replaces its body with `crate::policy` selection.

use std::net::IpAddr;

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

/// Fills `out` with the addresses of `service` of family `qtype` (A or AAAA) for `client`.
pub fn resolve(
    _snapshot: &Snapshot,
    _service: u32,
    _qtype: u16,
    _client: IpAddr,
    _ecs_source: Option<u8>,
    out: &mut ServiceAnswer,
) {
    *out = ServiceAnswer::default();
}
