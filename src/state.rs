//! The immutable snapshot the query path reads: compiled zones, service names and limits.
//!
//! Servers hold an `Arc<ArcSwap<Snapshot>>` and load it once per batch; a reload builds a
//! whole new `Snapshot` and stores it, so a failed reload simply keeps the old one. Later
//! issues add the geo classifier, policy and health views here.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::dns::name::NameMap;
use crate::dns::zone::ZoneSet;

/// Everything a query needs, frozen.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub zones: ZoneSet,
    /// Largest UDP response Meridian sends (the EDNS payload it advertises).
    pub max_udp_payload: u16,
    /// Names bound to a service (lower-cased wire form) -> index of the service.
    /// Empty until the policy issue fills it; see [`crate::dns::service`].
    pub services: NameMap<u32>,
}

impl Snapshot {
    pub fn new(zones: ZoneSet, max_udp_payload: u16) -> Snapshot {
        Snapshot {
            zones,
            max_udp_payload: max_udp_payload.max(512),
            services: NameMap::default(),
        }
    }
}

/// The shared, swappable handle servers read.
pub type SharedState = Arc<ArcSwap<Snapshot>>;

/// Wraps a first snapshot into the shared handle.
pub fn shared(snapshot: Snapshot) -> SharedState {
    Arc::new(ArcSwap::from_pointee(snapshot))
}
