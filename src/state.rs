//! The immutable snapshot the query path reads: compiled zones, service names, the compiled
//! policy and the health view, and limits.
//!
//! Servers hold an `Arc<ArcSwap<Snapshot>>` and load it once per batch; a reload builds a
//! whole new `Snapshot` and stores it, so a failed reload simply keeps the old one. The big
//! parts are behind `Arc`s so a health change (a new health [`Table`]) is a shallow copy.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::dns::name::NameMap;
use crate::dns::zone::ZoneSet;
use crate::health::Table;
use crate::policy::Compiled;

/// Everything a query needs, frozen.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub zones: Arc<ZoneSet>,
    /// Largest UDP response Meridian sends (the EDNS payload it advertises).
    pub max_udp_payload: u16,
    /// Names bound to a service (lower-cased wire form) -> [`crate::policy::ServiceId`].
    pub services: Arc<NameMap<u32>>,
    /// The compiled per-client policy (None when no service is configured).
    pub policy: Option<Arc<Compiled>>,
    /// Answer counters by (service, link), made with the policy (see [`crate::metrics`]).
    pub answers: Arc<crate::metrics::AnswerCounters>,
    /// The health authority's verdict on every target of the policy, indexed by
    /// [`crate::policy::TargetId`] (see [`Compiled::targets`]).
    pub health: Arc<Table>,
    /// Log one line per query.
    pub query_log: bool,
    /// The targets registered with the health authority for this snapshot: a table the
    /// authority computed for another registration is not applied to it.
    pub registry: Arc<crate::health::Registry>,
    /// Caps and timeouts of DNS over TCP (`[server] tcp_*`), read at each accept.
    pub tcp: crate::config::TcpSettings,
    /// UDP response rate limiting (`[server] rrl`), read by the UDP threads at each batch.
    pub rrl: crate::config::RrlSettings,
    /// The DNS Cookies secret; None: cookies are ignored (no COOKIE in replies).
    pub cookie_secret: Option<crate::dns::cookie::CookieSecret>,
    /// What the node says about itself (NSID, CH TXT `id.server.`); off by default.
    pub identity: crate::dns::identity::Identity,
}

impl Snapshot {
    /// Static zones only: no service names, no rate limiting, no cookies.
    pub fn new(zones: ZoneSet, max_udp_payload: u16) -> Snapshot {
        Snapshot {
            zones: Arc::new(zones),
            max_udp_payload: max_udp_payload.max(512),
            services: Arc::default(),
            policy: None,
            answers: Arc::default(),
            health: Arc::new(Table::default()),
            query_log: false,
            registry: Arc::default(),
            tcp: crate::config::TcpSettings::default(),
            rrl: crate::config::RrlSettings::off(),
            cookie_secret: None,
            identity: crate::dns::identity::Identity::default(),
        }
    }

    /// Bind every service of `policy` to its name and use `health` for its answers.
    pub fn with_policy(mut self, policy: Arc<Compiled>, health: Arc<Table>) -> Snapshot {
        let mut names = NameMap::default();
        for (name, id) in policy.service_names() {
            if let Some(wire) = crate::dns::name::from_text(name) {
                names.insert(wire.into_boxed_slice(), id.0);
            }
        }
        self.services = Arc::new(names);
        self.answers = Arc::new(crate::dns::service::answer_counters(&policy));
        self.policy = Some(policy);
        self.health = health;
        self
    }
}

/// The shared, swappable handle servers read.
pub type SharedState = Arc<ArcSwap<Snapshot>>;

/// Wraps a first snapshot into the shared handle.
pub fn shared(snapshot: Snapshot) -> SharedState {
    Arc::new(ArcSwap::from_pointee(snapshot))
}
