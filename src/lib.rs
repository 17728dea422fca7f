//! Meridian: a global DNS load balancer and a local LVS director in one binary.
//!
//! ```text
//!  query path                    probe path                 IPVS path
//!  ----------                    ----------                 ---------
//!  UDP (recvmmsg, per core)      health::Monitor tasks      lvs::Reconciler
//!  TCP (hickory-server)            |  observe(result, now)     | desired = config + health
//!      |                           v                           | actual  = netlink dump
//!      v                         health state table  -------> | diff(desired, actual) -> ops
//!  dns::answer ----------------> state::Snapshot (ArcSwap)     v
//!      | zone tree / service       ^                        netlink (generic, "IPVS")
//!      v                           |
//!  policy::select(snapshot, client attrs from geo::Classifier, qname, qtype)
//! ```
//!
//! Modules, one concern each:
//! - [`config`]: policy file parsing and validation into typed values;
//! - [`dns`]: sockets, wire format, zone files, the zone tree and the answer core;
//! - [`geo`]: MaxMind DB readers, CIDR lists and the compiled classifier;
//! - [`policy`]: the pure per-client decision for service names;
//! - [`health`]: monitors and rise/fall state;
//! - [`lvs`]: IPVS over generic netlink, diff and reconcile;
//! - [`cmd`]: one type per subcommand, each with `run(self)`.

pub mod admin;
pub mod cmd;
pub mod config;
pub mod dns;
pub mod geo;
pub mod health;
pub mod lvs;
pub mod metrics;
pub mod policy;
