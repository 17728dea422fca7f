//! The vantage quorum rule: when does the cluster hold a target down? Pure; time arrives as
//! ages computed by the caller.
//!
//! Fresh observers are this node (when it has a result) plus every peer that the failure
//! detector holds alive ([`Liveness::Alive`] or [`Liveness::Suspect`]) and whose observation of
//! the target was refreshed less than `stale_after` ago. Dead, silent and stale peers count as
//! unknown, never as down. The target is down when at least `quorum` of the fresh observers see
//! it down: `majority` = more than half, `all`, `any` = one, or a number N (capped at the number
//! of fresh observers, so that N fresh observers who all agree always decide). A node with no
//! fresh peer therefore follows its own probe. For a VIP, a fresh report of its director outranks
//! every remote probe ([`decide_vip`]).

use std::fmt;
use std::time::Duration;

use super::report::ProbeState;
use super::view::Liveness;
use crate::config::{Quorum, Vantage};

/// The verdict for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Up,
    Down,
    /// Nobody has a fresh observation (not even this node).
    Unknown,
}

/// This node's own probe of the target; `state: None` = no result yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnInput {
    pub node: String,
    pub state: Option<ProbeState>,
}

/// A peer's observation as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInput {
    pub node: String,
    pub liveness: Liveness,
    /// The peer's state for the target and the time since it was last refreshed; None = the peer
    /// publishes nothing for this target.
    pub observation: Option<(ProbeState, Duration)>,
}

/// A director's report on one of its own VIPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorInput {
    pub node: String,
    /// [`Liveness::Alive`] when the director is this node.
    pub liveness: Liveness,
    pub quorum: ProbeState,
    pub age: Duration,
}

/// What decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// The director's own report on its VIP.
    Director(String),
    /// The quorum over fresh observers including at least one peer.
    Quorum,
    /// No fresh peer: this node's own probe.
    OwnOnly,
    /// No fresh observation at all.
    NoObservers,
}

/// Why an observer did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    Dead,
    Silent,
    Stale(Duration),
    /// Its probe result is outranked by the VIP's director.
    Outranked,
    /// This node has no result yet.
    NoResultYet,
}

/// One counted observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub node: String,
    pub state: ProbeState,
    /// None for this node's own probe.
    pub age: Option<Duration>,
}

/// Who saw what, who was ignored and why: enough for `explain` to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub basis: Basis,
    pub quorum: Quorum,
    pub stale_after: Duration,
    pub votes: Vec<Vote>,
    pub ignored: Vec<(String, Ignored)>,
    /// Fresh observers seeing the target down.
    pub down: usize,
    /// Down votes needed.
    pub needed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub explanation: Explanation,
}

/// Down votes needed among `fresh` observers (at least one).
pub fn needed(quorum: Quorum, fresh: usize) -> usize {
    let n = match quorum {
        Quorum::Majority => fresh / 2 + 1,
        Quorum::All => fresh,
        Quorum::Any => 1,
        Quorum::AtLeast(k) => (k as usize).min(fresh),
    };
    n.max(1)
}

/// The vantage rule's outcome without its explanation: what the health authority needs for
/// every target on every recomputation, so it is computed without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub verdict: Verdict,
    /// At least one fresh peer voted ([`Basis::Quorum`]); false when this node's own probe
    /// decided alone or nobody had a fresh observation.
    pub by_quorum: bool,
}

/// [`decide`]'s verdict and basis from this node's own state and, for each peer, its liveness
/// and its observation with that observation's age. Allocation-free.
pub fn tally(
    own: Option<ProbeState>,
    peers: impl IntoIterator<Item = (Liveness, Option<(ProbeState, Duration)>)>,
    rule: &Vantage,
) -> Tally {
    let mut fresh = usize::from(own.is_some());
    let mut down = usize::from(own == Some(ProbeState::Down));
    let mut fresh_peers = 0;
    for (liveness, observation) in peers {
        match (liveness, observation) {
            (Liveness::Dead, _) | (_, None) => {}
            (_, Some((_, age))) if age >= rule.stale_after => {}
            (_, Some((state, _))) => {
                fresh += 1;
                fresh_peers += 1;
                down += usize::from(state == ProbeState::Down);
            }
        }
    }
    let verdict = match fresh {
        0 => Verdict::Unknown,
        n if down >= needed(rule.quorum, n) => Verdict::Down,
        _ => Verdict::Up,
    };
    Tally {
        verdict,
        by_quorum: fresh_peers > 0,
    }
}

/// The vantage rule over this node's and its peers' observations.
pub fn decide(own: &OwnInput, peers: &[PeerInput], rule: &Vantage) -> Decision {
    let mut votes = Vec::new();
    let mut ignored = Vec::new();
    match own.state {
        Some(state) => votes.push(Vote {
            node: own.node.clone(),
            state,
            age: None,
        }),
        None => ignored.push((own.node.clone(), Ignored::NoResultYet)),
    }
    for p in peers {
        let why = match (p.liveness, p.observation) {
            (Liveness::Dead, _) => Some(Ignored::Dead),
            (_, None) => Some(Ignored::Silent),
            (_, Some((_, age))) if age >= rule.stale_after => Some(Ignored::Stale(age)),
            (_, Some((state, age))) => {
                votes.push(Vote {
                    node: p.node.clone(),
                    state,
                    age: Some(age),
                });
                None
            }
        };
        if let Some(why) = why {
            ignored.push((p.node.clone(), why));
        }
    }
    let fresh_peers = votes.iter().filter(|v| v.age.is_some()).count();
    let down = votes.iter().filter(|v| v.state == ProbeState::Down).count();
    let needed = needed(rule.quorum, votes.len());
    let (verdict, basis) = if votes.is_empty() {
        (Verdict::Unknown, Basis::NoObservers)
    } else {
        let v = if down >= needed {
            Verdict::Down
        } else {
            Verdict::Up
        };
        (
            v,
            if fresh_peers == 0 {
                Basis::OwnOnly
            } else {
                Basis::Quorum
            },
        )
    };
    Decision {
        verdict,
        explanation: Explanation {
            basis,
            quorum: rule.quorum,
            stale_after: rule.stale_after,
            votes,
            ignored,
            down,
            needed,
        },
    }
}

/// The rule for a VIP: its director's fresh report decides; without one (no director, director
/// dead, or its report stale), the vantage quorum over the probes does.
pub fn decide_vip(
    director: Option<&DirectorInput>,
    own: &OwnInput,
    peers: &[PeerInput],
    rule: &Vantage,
) -> Decision {
    let mut fallback = decide(own, peers, rule);
    let Some(d) = director else {
        return fallback;
    };
    let why = match d.liveness {
        Liveness::Dead => Some(Ignored::Dead),
        _ if d.age >= rule.stale_after => Some(Ignored::Stale(d.age)),
        _ => None,
    };
    if let Some(why) = why {
        fallback
            .explanation
            .ignored
            .insert(0, (format!("director {}", d.node), why));
        return fallback;
    }
    let ex = fallback.explanation;
    let mut ignored: Vec<(String, Ignored)> = ex
        .votes
        .into_iter()
        .map(|v| (v.node, Ignored::Outranked))
        .collect();
    ignored.extend(ex.ignored);
    Decision {
        verdict: match d.quorum {
            ProbeState::Up => Verdict::Up,
            ProbeState::Down => Verdict::Down,
        },
        explanation: Explanation {
            basis: Basis::Director(d.node.clone()),
            votes: vec![Vote {
                node: d.node.clone(),
                state: d.quorum,
                age: Some(d.age),
            }],
            ignored,
            down: usize::from(d.quorum == ProbeState::Down),
            needed: 1,
            ..ex
        },
    }
}

fn state_str(s: ProbeState) -> &'static str {
    match s {
        ProbeState::Up => "up",
        ProbeState::Down => "down",
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fresh = self.votes.len();
        match &self.basis {
            Basis::Director(d) => write!(
                f,
                "director {d} reports its VIP; remote probes are outranked"
            )?,
            Basis::NoObservers => write!(f, "no fresh observation")?,
            Basis::OwnOnly => write!(f, "no fresh peer: this node's own probe decides")?,
            Basis::Quorum => write!(
                f,
                "{} of {fresh} fresh observers see it down; quorum {} needs {}",
                self.down, self.quorum, self.needed
            )?,
        }
        for v in &self.votes {
            match v.age {
                None => write!(f, "\n  {}: {} (this node)", v.node, state_str(v.state))?,
                Some(a) => write!(
                    f,
                    "\n  {}: {}, {:.1}s old",
                    v.node,
                    state_str(v.state),
                    a.as_secs_f64()
                )?,
            }
        }
        for (node, why) in &self.ignored {
            let why = match why {
                Ignored::Dead => "ignored, dead".to_string(),
                Ignored::Silent => "ignored, no observation".to_string(),
                Ignored::Stale(a) => format!(
                    "ignored, stale ({:.1}s old, limit {:.1}s)",
                    a.as_secs_f64(),
                    self.stale_after.as_secs_f64()
                ),
                Ignored::Outranked => "ignored, outranked by the director".to_string(),
                Ignored::NoResultYet => "no result yet".to_string(),
            };
            write!(f, "\n  {node}: {why}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
