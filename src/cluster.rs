//! Several nodes, one system: nodes share what they see over gossip and act as one, without
//! consensus and without a shared store in the answer path. Each node answers from its own
//! memory; the cluster only adds what the others see.
//!
//! ```text
//!  health / lvs / overrides                           other nodes
//!        | ClusterHandle::set_observation,                 ^
//!        | set_vip, set_override, set_digest               | sealed UDP datagrams
//!        v                                                 | (seal: XChaCha20-Poly1305)
//!  ClusterTask::run -- publish (own keys only) --> chitchat (scuttlebutt + phi accrual)
//!        |                                                 |
//!        +<------------- Tracker::build <------------------+
//!        v
//!  watch<Arc<ClusterView>> --> vantage::decide / decide_vip, ClusterView::overrides
//! ```
//!
//! For the integrator: load the key with [`ClusterKey::load`] (config validation already did
//! once), [`Cluster::start`] with the `[cluster]` config and this node's initial [`Report`], spawn
//! [`ClusterTask::run`] with the shutdown token, then feed the [`ClusterHandle`] (after every
//! probe result: `set_observation`; directors: `set_vip`; overrides given on this node:
//! `set_override`) and read [`ClusterHandle::subscribe`]: each [`ClusterView`] answers
//! [`ClusterView::decide`] (the vantage rule for a target), [`ClusterView::decide_vip`],
//! [`ClusterView::overrides`] (merged, newest wins) and [`ClusterView::divergent`] (config
//! digests that differ). [`ClusterHandle::transport_stats`] gives the packet counters.
//!
//! Modules: [`key`] (the shared key file), [`transport`] and `seal` (the authenticated,
//! encrypted transport), [`report`] (what a node publishes and its encoding), `publish` (when
//! to write it), [`view`] (the snapshot), [`vantage`] and [`overrides`] (the pure rules), `node`
//! (the I/O shell).

pub mod key;
mod node;
pub mod overrides;
mod publish;
pub mod report;
mod seal;
pub mod transport;
pub mod vantage;
pub mod view;

pub use key::{ClusterKey, KeyError};
pub use node::{Cluster, ClusterError, ClusterHandle, ClusterTask};
pub use overrides::EffectiveOverride;
pub use report::{Observation, OverrideEntry, ProbeState, Report, Role, VipStatus};
pub use seal::Reject;
pub use transport::TransportStats;
pub use vantage::{Decision, Explanation, Verdict};
pub use view::{ClusterView, Liveness, PeerView, Seen};
