//! What a decision returns: the outcome, the scope, the TTL and why it has that TTL, and
//! the role of a link in a client's chain (for `explain`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The addresses are in the caller's `out`.
    Answer,
    /// No address of the asked family: NOERROR with an empty answer.
    NoData,
}

/// Why an answer has the TTL it has: the service's `ttl` for the healthy first choice,
/// `ttl_degraded` for anything else, so clients come back soon after health recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TtlReason {
    /// The client's first site (top-ranked for `weighted`; every site for `all`) through
    /// the client's first link.
    FirstChoice,
    /// `failover`/`nearest`: the first site is not usable; a later one answers.
    Failover,
    /// `spill = "capacity"`: the first site is not usable; its clients are spread.
    Spill,
    /// `weighted`: the client's top-ranked site is not usable.
    WeightedMoved,
    /// `all`: a site of the list is not usable and is left out.
    SiteLeftOut,
    /// The site answers through a link after the client's first link.
    LinkFallback,
    /// Only sites whose VIP is full (capacity-aware spill) are usable: answered from them.
    OverCapacity,
    /// No site is usable: `fallback = "all"` (fail-open).
    FailOpen,
    /// No site is usable: `fallback = "none"` or the fallback addresses.
    Fallback,
}

impl TtlReason {
    pub fn is_degraded(self) -> bool {
        self != TtlReason::FirstChoice
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TtlReason::FirstChoice => "the healthy first choice",
            TtlReason::Failover => "failover: the first site is not usable",
            TtlReason::Spill => {
                "spill: the first site is not usable, its clients are spread by capacity"
            }
            TtlReason::WeightedMoved => "weighted: the client's top-ranked site is not usable",
            TtlReason::SiteLeftOut => "all: a site of the list is not usable",
            TtlReason::LinkFallback => "link fallback: the client's first link is not usable",
            TtlReason::OverCapacity => {
                "over capacity: every usable site's VIP is full, answered from a full one"
            }
            TtlReason::FailOpen => "fail-open: no site is usable (fallback = \"all\")",
            TtlReason::Fallback => "no site is usable: the service's fallback",
        }
    }
}

/// The result of one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// ECS scope: the widest prefix of the client's family over which this answer holds.
    pub scope: u8,
    pub ttl: u32,
    pub ttl_reason: TtlReason,
    /// Nothing was usable and the service's `fallback` produced the answer.
    pub fallback: bool,
}

/// A link's place in a site's chain for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkRole {
    /// Named after the client's ISP.
    Isp,
    /// The site's `default` link.
    Default,
    /// Another link, tried with `link_fallback = "any"`.
    Other,
}

impl LinkRole {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkRole::Isp => "isp",
            LinkRole::Default => "default",
            LinkRole::Other => "other",
        }
    }
}
