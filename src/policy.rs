//! The per-client decision for service names: which addresses a client gets, and for how
//! wide a client prefix that answer holds (the ECS scope).
//!
//! [`Compiled::new`] turns the configuration into immutable tables once per load: the geo
//! classifier, the sites with their links and addresses (each with a health index), and per
//! service a *plan table*. A plan is everything the answer depends on besides health:
//! the route rule that matched, the mode, the ordered site list (already sorted by distance
//! for `nearest`) and the client's ISP if one of the service's sites has a link for it.
//! Every distinct attribute set of the classifier is mapped to its plan at compile time and
//! the classifier's prefix table is projected onto plan ids, merging neighbours with equal
//! plans, so the block that holds a client is exactly the widest prefix with the same
//! plan. The query path ([`Compiled::select`]) is one binary search plus a walk over a few
//! sites: no allocation (the caller passes a reusable `Vec`), no lock, no I/O.
//!
//! Health is an input: the health authority's [`crate::health::Table`], one verdict per
//! target of [`Compiled::targets`] (a target is one (link, address) occurrence), indexed
//! by [`TargetId`]. The policy decides nothing about health: a link is usable when one of
//! its targets serves, a site when a link of the client's chain is usable. [`Compiled::explain`] runs the same decision code with a recorder
//! and also re-derives the route from the client's attributes the slow way, so `meridian
//! explain` shows the real answer and any disagreement would be visible (and is tested).

mod compile;
mod current;
mod decision;
mod explain;
mod hrw;
mod ids;
mod rules;
mod select;
mod tally;
#[cfg(test)]
mod tests;

pub use compile::{Compiled, ServiceId};
pub use current::PlanAnswer;
pub use decision::{Decision, LinkRole, Outcome, TtlReason};
pub use explain::{AddrInfo, ClientInfo, Explanation, LinkInfo, LinkStep, SiteInfo};
pub use ids::{LinkId, SiteId, Target, TargetId};
pub use select::{WEIGHT_PREFIX_V4, WEIGHT_PREFIX_V6};
pub use tally::{AnswerPath, Tally};

use crate::geo::GeoError;

/// Why a policy could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error("service {service}: unknown site {site:?}")]
    UnknownSite { service: String, site: String },
    #[error("too many {0} for the compiled tables")]
    TooMany(&'static str),
    /// Service names where the loaded zones delegate away (found once zones are loaded).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    NotAuthoritative(Vec<crate::config::Diagnostic>),
}
