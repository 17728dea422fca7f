//! Meridian: a global DNS load balancer and a local LVS director in one binary.
//!
//! ```text
//!  query path                      probe path                       IPVS path
//!  ----------                      ----------                       ---------
//!  dns::udp (recvmmsg, a thread    health::Scheduler: one task      lvs::run / Reconciler
//!   per core, SO_REUSEPORT)         per (address, check)              desired(config, RealTable)
//!  dns::tcp (tokio, 2-byte frames)     |  + overrides, director's       vs Ipvs::dump()
//!      |                               |    VIP quorum, peers' views    diff() -> netlink
//!      v                               v    (cluster)                     ^
//!  dns::answer(snapshot, bytes)    health::Authority::publish --------+---+ RealTable
//!      | zone tree, or a service       | Published.dns (Table)
//!      v                               v
//!  policy::Compiled::select  <--  state::Snapshot (ArcSwap): zones, policy, health table
//!      (geo::Classifier trie:         ^
//!       attributes + widest prefix)   | serve: build on start/SIGHUP, re-project on health change
//! ```
//!
//! Modules, one concern each:
//! - [`config`]: policy file parsing and validation into typed values;
//! - [`dns`]: sockets, wire format, zone files, the zone tree and the answer core;
//! - [`geo`]: MaxMind DB readers, CIDR lists and the compiled classifier;
//! - [`policy`]: the pure per-client decision for service names, and `explain`'s account of it;
//! - [`health`]: monitors, rise/fall state, the probe scheduler, overrides, and the authority
//!   that resolves every target's status for DNS and the director;
//! - [`lvs`]: IPVS over generic netlink, desired state, drains, diff, reconcile, sync daemons;
//! - [`realserver`]: a DR/TUN real server's VIPs and sysctls (rtnetlink), for `meridian realserver`;
//! - [`state`]: the immutable snapshot the query path reads;
//! - [`serve`]: the long-running process that wires them together ([`run`]);
//! - [`privilege`]: leaving root after binding (`[server] user`), keeping only `CAP_NET_ADMIN` for IPVS;
//! - [`admin`]: the loopback HTTP/1.1 endpoint on hyper (status page, metrics, overrides, reload);
//! - [`metrics`]: the Prometheus metrics (`prometheus-client`) and their `/metrics` rendering;
//! - [`cluster`]: gossip between nodes (chitchat over an encrypted transport), the vantage rule;
//! - [`anycast`]: which prefixes this node announces over BGP (BIRD or ExaBGP), BFD fate-sharing;
//! - [`cmd`]: one type per subcommand, each with `run(self)`;
//! - [`files`]: reading any file under one rule set (regular files only, size limits);
//! - [`errtext`]: an error and its causes as one line, each cause said once;
//! - [`netlimit`]: connection caps per client prefix and in total (DNS over TCP, admin).
//!
//! Hidden from the docs, `fuzzing` holds the harnesses that the cargo-fuzz targets in `fuzz/`
//! and `tests/fuzz_corpus.rs` run.

pub mod admin;
pub mod anycast;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod dns;
pub mod errtext;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod geo;
pub mod health;
pub mod lvs;
pub mod metrics;
pub mod netlimit;
pub mod policy;
pub mod privilege;
pub mod realserver;
pub mod serve;
pub mod state;
#[cfg(test)]
pub(crate) mod test_rng;

pub use serve::run;
