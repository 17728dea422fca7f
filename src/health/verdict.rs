//! The health authority's vocabulary and its one decision.
//!
//! [`Status`] is the only status type in Meridian: probes produce `Unknown`, `Up` or `Down`,
//! operators add `Drain`, directors add `Full` (a VIP at its `spill_at` share of capacity). [`resolve`] is the only place that decides what a target *is* for
//! the consumers (DNS answers, the IPVS director): it takes every piece of [`Evidence`] about
//! one target and returns a [`Verdict`], the status plus where it came from. The rules, in
//! order (docs/health.md states them and each has a unit test below):
//!
//! 1. an operator override wins, the most specific one: address, then link, then site;
//! 2. a director's quorum for a VIP it directs (this node's, else a fresh report of a peer):
//!    down when lost; while it holds, it outranks the other nodes' probes of the VIP's
//!    address (only this node's own probes still count);
//! 3. probes: down if any check of the address is down, each check's state being the
//!    cluster's vantage quorum over fresh observers when `[cluster]` is set (this node's own
//!    result otherwise, or when no peer is fresh); a check with no result yet counts as its
//!    start state (`start = "up"` by default, so a fresh start answers at once);
//! 4. an address nobody checks is up;
//! 5. an address that would be up but whose director reports its VIP full (at `spill_at` of
//!    its capacity, until it falls below `spill_resume`) is `Full`: DNS sends new clients
//!    elsewhere while another site can take them, and to it before answering nothing.
//!
//! Consumers read a [`Table`]: one verdict per target they registered, by index.

use crate::config::{OverrideState, StartState};

/// The one status type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Status {
    /// No probe result yet.
    #[default]
    Unknown,
    Up,
    Down,
    /// Forced by an operator: keep existing flows (LVS weight 0), hand out no new answers.
    Drain,
    /// Up, but its VIP is at capacity: answered only when no site that is up can be.
    Full,
}

impl Status {
    /// Whether new clients may be sent to a target in this state.
    pub fn is_up(self) -> bool {
        self == Status::Up
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Up => "up",
            Status::Down => "down",
            Status::Drain => "drain",
            Status::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "unknown" => Some(Status::Unknown),
            "up" => Some(Status::Up),
            "down" => Some(Status::Down),
            "drain" => Some(Status::Drain),
            "full" => Some(Status::Full),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<OverrideState> for Status {
    fn from(s: OverrideState) -> Status {
        match s {
            OverrideState::Up => Status::Up,
            OverrideState::Down => Status::Down,
            OverrideState::Drain => Status::Drain,
        }
    }
}

/// Which override level decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Site,
    Link,
    Addr,
}

/// Where a verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Nothing checks the target.
    Unchecked,
    /// Checked, but no result yet: the check's start state.
    Start,
    /// Probe results (this node's own, or restored from the state file).
    Probe,
    /// A director's VIP quorum (this node's, or a peer's report).
    Director,
    /// The vantage quorum over this node's and its peers' fresh probes.
    Vantage,
    /// An operator override at this level.
    Override(Level),
    /// The director's load report: up, but the VIP is at capacity.
    Capacity,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Unchecked => "not checked",
            Source::Start => "start state",
            Source::Probe => "probe",
            Source::Director => "director quorum",
            Source::Vantage => "vantage quorum",
            Source::Override(Level::Site) => "site override",
            Source::Override(Level::Link) => "link override",
            Source::Override(Level::Addr) => "address override",
            Source::Capacity => "director load at capacity",
        }
    }
}

/// What a target is for the consumers: never `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub status: Status,
    pub source: Source,
}

impl Verdict {
    pub const UNCHECKED: Verdict = Verdict {
        status: Status::Up,
        source: Source::Unchecked,
    };
    /// What an index outside the table reads: not known, so not handed out.
    pub const MISSING: Verdict = Verdict {
        status: Status::Down,
        source: Source::Probe,
    };

    /// Takes new clients.
    #[inline]
    pub fn serves(self) -> bool {
        self.status == Status::Up
    }

    /// Taken out by an operator (down or drain): never handed out, not even by fail-open.
    #[inline]
    pub fn forced_out(self) -> bool {
        matches!(self.source, Source::Override(_)) && self.status != Status::Up
    }
}

/// What the probes say about one address, over every check run against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeEvidence {
    /// Checks with a result, and how many of them are down.
    pub seen: u16,
    pub seen_down: u16,
    /// Checks without a result yet, and how many of them start down.
    pub pending: u16,
    pub pending_down: u16,
    /// A state came from the cluster's vantage quorum rather than this node alone.
    pub vantage: bool,
}

impl ProbeEvidence {
    /// Adds one check's state (`Unknown` = no result yet) with its start state.
    pub fn add(&mut self, state: Status, start: StartState) {
        match state {
            Status::Unknown => {
                self.pending = self.pending.saturating_add(1);
                if start == StartState::Down {
                    self.pending_down = self.pending_down.saturating_add(1);
                }
            }
            s => {
                self.seen = self.seen.saturating_add(1);
                if !s.is_up() {
                    self.seen_down = self.seen_down.saturating_add(1);
                }
            }
        }
    }

    pub fn is_checked(&self) -> bool {
        self.seen > 0 || self.pending > 0
    }
}

/// Everything known about one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evidence {
    /// The most specific override in force, with its level.
    pub forced: Option<(Level, OverrideState)>,
    /// The local director's quorum for this address, when it directs a VIP on it.
    pub director: Option<bool>,
    /// A director reports a VIP on this address full (capacity-aware spill).
    pub full: bool,
    pub probe: ProbeEvidence,
}

/// The one decision; see the module doc for the rules.
pub fn resolve(e: &Evidence) -> Verdict {
    if let Some((level, state)) = e.forced {
        return Verdict {
            status: state.into(),
            source: Source::Override(level),
        };
    }
    if e.director == Some(false) {
        return Verdict {
            status: Status::Down,
            source: Source::Director,
        };
    }
    let p = &e.probe;
    let seen = if p.vantage {
        Source::Vantage
    } else {
        Source::Probe
    };
    let (status, source) = if p.seen_down > 0 {
        (Status::Down, seen)
    } else if p.pending_down > 0 {
        (Status::Down, Source::Start)
    } else if p.pending > 0 {
        (Status::Up, Source::Start)
    } else if p.seen > 0 {
        (Status::Up, seen)
    } else if e.director == Some(true) {
        (Status::Up, Source::Director)
    } else {
        (Status::Up, Source::Unchecked)
    };
    if status == Status::Up && e.full {
        return Verdict {
            status: Status::Full,
            source: Source::Capacity,
        };
    }
    Verdict { status, source }
}

/// One verdict per registered target, by index: what a consumer reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    verdicts: Box<[Verdict]>,
    /// When a target is `Full`: the same table with full targets up, which the policy reads
    /// only when no site can be answered from this one.
    lenient: Option<Box<Table>>,
}

impl Table {
    pub fn new(verdicts: Vec<Verdict>) -> Table {
        let lenient = verdicts.iter().any(|v| v.status == Status::Full).then(|| {
            let up = verdicts
                .iter()
                .map(|&v| match v.status {
                    Status::Full => Verdict {
                        status: Status::Up,
                        ..v
                    },
                    _ => v,
                })
                .collect::<Vec<_>>();
            Box::new(Table::new(up))
        });
        Table {
            verdicts: verdicts.into_boxed_slice(),
            lenient,
        }
    }

    /// The table with every `Full` target counted up, when one is full.
    #[inline]
    pub fn lenient(&self) -> Option<&Table> {
        self.lenient.as_deref()
    }

    /// `n` targets, none checked: all up.
    pub fn all_up(n: usize) -> Table {
        Table::new(vec![Verdict::UNCHECKED; n])
    }

    /// The verdict of target `i`; an index the table does not have reads as down.
    #[inline]
    pub fn get(&self, i: usize) -> Verdict {
        self.verdicts.get(i).copied().unwrap_or(Verdict::MISSING)
    }

    pub fn len(&self) -> usize {
        self.verdicts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.verdicts.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Verdict> + '_ {
        self.verdicts.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(states: &[(Status, StartState)]) -> ProbeEvidence {
        let mut p = ProbeEvidence::default();
        for (s, start) in states {
            p.add(*s, *start);
        }
        p
    }

    #[test]
    fn override_beats_everything() {
        for state in [OverrideState::Up, OverrideState::Down, OverrideState::Drain] {
            let e = Evidence {
                forced: Some((Level::Link, state)),
                director: Some(false),
                full: false,
                probe: probe(&[(Status::Down, StartState::Up)]),
            };
            let v = resolve(&e);
            assert_eq!(v.status, Status::from(state));
            assert_eq!(v.source, Source::Override(Level::Link));
            assert_eq!(v.forced_out(), state != OverrideState::Up);
        }
    }

    #[test]
    fn a_full_vip_is_full_only_while_it_would_be_up() {
        let up = Evidence {
            forced: None,
            director: Some(true),
            full: true,
            probe: probe(&[(Status::Up, StartState::Up)]),
        };
        let v = resolve(&up);
        assert_eq!((v.status, v.source), (Status::Full, Source::Capacity));
        assert!(!v.serves() && !v.forced_out());
        let down = Evidence {
            probe: probe(&[(Status::Down, StartState::Up)]),
            ..up
        };
        assert_eq!(resolve(&down).status, Status::Down);
        let forced = Evidence {
            forced: Some((Level::Site, OverrideState::Up)),
            ..up
        };
        assert_eq!(resolve(&forced).status, Status::Up);
        let t = Table::new(vec![resolve(&up), resolve(&down)]);
        let lenient = t.lenient().map(|l| (l.get(0).status, l.get(1).status));
        assert_eq!(lenient, Some((Status::Up, Status::Down)));
        assert!(Table::new(vec![resolve(&down)]).lenient().is_none());
    }

    #[test]
    fn director_quorum_loss_beats_probes() {
        let e = Evidence {
            forced: None,
            director: Some(false),
            full: false,
            probe: probe(&[(Status::Up, StartState::Up)]),
        };
        assert_eq!(resolve(&e).status, Status::Down);
        assert_eq!(resolve(&e).source, Source::Director);
        assert!(!resolve(&e).forced_out());
        // Quorum held: the probes still decide.
        let e = Evidence {
            director: Some(true),
            ..e
        };
        assert_eq!(resolve(&e).source, Source::Probe);
        let e = Evidence {
            director: Some(true),
            full: false,
            probe: probe(&[(Status::Down, StartState::Up)]),
            forced: None,
        };
        assert_eq!(resolve(&e).status, Status::Down);
    }

    #[test]
    fn unknown_counts_as_start_state() {
        let up = resolve(&Evidence {
            probe: probe(&[(Status::Unknown, StartState::Up)]),
            ..Evidence::default()
        });
        assert_eq!((up.status, up.source), (Status::Up, Source::Start));
        let down = resolve(&Evidence {
            probe: probe(&[(Status::Unknown, StartState::Down)]),
            ..Evidence::default()
        });
        assert_eq!((down.status, down.source), (Status::Down, Source::Start));
    }

    #[test]
    fn any_check_down_takes_the_address_down() {
        let v = resolve(&Evidence {
            probe: probe(&[
                (Status::Up, StartState::Up),
                (Status::Down, StartState::Up),
                (Status::Unknown, StartState::Up),
            ]),
            ..Evidence::default()
        });
        assert_eq!((v.status, v.source), (Status::Down, Source::Probe));
        let v = resolve(&Evidence {
            probe: probe(&[(Status::Up, StartState::Up), (Status::Up, StartState::Down)]),
            ..Evidence::default()
        });
        assert_eq!((v.status, v.source), (Status::Up, Source::Probe));
    }

    #[test]
    fn unchecked_is_up_and_missing_is_down() {
        assert_eq!(resolve(&Evidence::default()), Verdict::UNCHECKED);
        let t = Table::all_up(2);
        assert!(t.get(1).serves());
        assert!(!t.get(2).serves());
    }
}
