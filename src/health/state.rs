//! The rise/fall state machine of one probed target: a pure core.
//!
//! [`Health::observe`] takes one probe result and the time it was seen and says whether the
//! target's state changed. A target starts [`Status::Unknown`] (the authority then uses the
//! check's start state) or with the state restored from the state file; from `Unknown` the
//! first result decides at once. After that a target
//! that is up needs `fall` consecutive failures to go down, and one that is down needs `rise`
//! consecutive successes to come up, so a target that alternates up/down on every probe keeps
//! its state when `rise` and `fall` are both at least 2.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::verdict::Status;

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub up: bool,
    /// Why, in a few words: "connect refused", "status 500", "timeout 500ms", "status 200".
    pub reason: Arc<str>,
    /// How long the probe took.
    pub elapsed: Duration,
}

impl ProbeResult {
    pub fn up(reason: impl Into<Arc<str>>, elapsed: Duration) -> Self {
        ProbeResult {
            up: true,
            reason: reason.into(),
            elapsed,
        }
    }

    pub fn down(reason: impl Into<Arc<str>>, elapsed: Duration) -> Self {
        ProbeResult {
            up: false,
            reason: reason.into(),
            elapsed,
        }
    }
}

/// A change of state, with the result that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
    pub reason: Arc<str>,
    pub at: Instant,
}

/// Rise/fall counters of one target.
#[derive(Debug, Clone)]
pub struct Health {
    state: Status,
    rise: u32,
    fall: u32,
    /// Consecutive results that disagree with `state`.
    streak: u32,
    since: Option<Instant>,
    last_result: Option<Instant>,
}

impl Health {
    /// `rise` and `fall` below 1 are treated as 1.
    pub fn new(rise: u32, fall: u32, initial: Status) -> Self {
        Health {
            state: initial,
            rise: rise.max(1),
            fall: fall.max(1),
            streak: 0,
            since: None,
            last_result: None,
        }
    }

    pub fn state(&self) -> Status {
        self.state
    }

    /// When the current state began (None: the initial state, no change yet).
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    pub fn last_result(&self) -> Option<Instant> {
        self.last_result
    }

    /// Feed one probe result; returns the transition if the state changed.
    pub fn observe(&mut self, result: &ProbeResult, now: Instant) -> Option<Transition> {
        self.last_result = Some(now);
        let to = match (self.state, result.up) {
            // Probes never produce `Drain` or `Full`; treat them as no result yet.
            (Status::Unknown | Status::Drain | Status::Full, true) => Status::Up,
            (Status::Unknown | Status::Drain | Status::Full, false) => Status::Down,
            (Status::Up, true) | (Status::Down, false) => {
                self.streak = 0;
                return None;
            }
            (Status::Up, false) => {
                self.streak += 1;
                if self.streak < self.fall {
                    return None;
                }
                Status::Down
            }
            (Status::Down, true) => {
                self.streak += 1;
                if self.streak < self.rise {
                    return None;
                }
                Status::Up
            }
        };
        let from = self.state;
        self.state = to;
        self.streak = 0;
        self.since = Some(now);
        Some(Transition {
            from,
            to,
            reason: result.reason.clone(),
            at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> ProbeResult {
        ProbeResult::up("ok", Duration::ZERO)
    }

    fn bad() -> ProbeResult {
        ProbeResult::down("connect refused", Duration::ZERO)
    }

    /// Feeds results one second apart and returns the state after each.
    fn run(h: &mut Health, results: &[bool]) -> Vec<Status> {
        let t0 = tokio::time::Instant::now().into_std();
        results
            .iter()
            .enumerate()
            .map(|(i, &up)| {
                let r = if up { ok() } else { bad() };
                h.observe(&r, t0 + Duration::from_secs(i as u64));
                h.state()
            })
            .collect()
    }

    #[test]
    fn first_result_decides_from_unknown() {
        let mut h = Health::new(3, 3, Status::Unknown);
        let t = tokio::time::Instant::now().into_std();
        let tr = h.observe(&bad(), t).expect("transition");
        assert_eq!((tr.from, tr.to), (Status::Unknown, Status::Down));
        assert_eq!(&*tr.reason, "connect refused");
        assert_eq!(h.since(), Some(t));

        let mut h = Health::new(3, 3, Status::Unknown);
        assert_eq!(h.observe(&ok(), t).map(|t| t.to), Some(Status::Up));
    }

    #[test]
    fn fall_needs_consecutive_failures() {
        let mut h = Health::new(2, 3, Status::Up);
        use Status::*;
        assert_eq!(
            run(&mut h, &[false, false, true, false, false, false, true]),
            vec![Up, Up, Up, Up, Up, Down, Down]
        );
    }

    #[test]
    fn rise_needs_consecutive_successes() {
        let mut h = Health::new(3, 1, Status::Down);
        use Status::*;
        assert_eq!(
            run(&mut h, &[true, true, false, true, true, true, false]),
            vec![Down, Down, Down, Down, Down, Up, Down]
        );
    }

    #[test]
    fn flapping_target_does_not_flap_with_rise2_fall2() {
        for start in [Status::Unknown, Status::Up, Status::Down] {
            let mut h = Health::new(2, 2, start);
            let pattern: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
            let states = run(&mut h, &pattern);
            let settled = states[0];
            assert!(
                states.iter().all(|s| *s == settled),
                "start {start:?}: {states:?}"
            );
        }
    }

    #[test]
    fn transitions_are_reported_once() {
        let mut h = Health::new(1, 2, Status::Up);
        let t = tokio::time::Instant::now().into_std();
        assert!(h.observe(&bad(), t).is_none());
        assert!(h.observe(&bad(), t).is_some());
        assert!(h.observe(&bad(), t).is_none());
        assert!(h.observe(&ok(), t).is_some());
        assert!(h.observe(&ok(), t).is_none());
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let mut h = Health::new(0, 0, Status::Up);
        use Status::*;
        assert_eq!(run(&mut h, &[false, true]), vec![Down, Up]);
    }

    #[tokio::test(start_paused = true)]
    async fn since_follows_paused_clock() {
        let mut h = Health::new(1, 1, Status::Unknown);
        let t0 = tokio::time::Instant::now();
        h.observe(&ok(), t0.into_std());
        tokio::time::sleep(Duration::from_secs(30)).await;
        let t1 = tokio::time::Instant::now();
        let tr = h.observe(&bad(), t1.into_std()).expect("down");
        assert_eq!(tr.at.duration_since(t0.into_std()), Duration::from_secs(30));
        assert_eq!(h.last_result(), Some(t1.into_std()));
    }
}
