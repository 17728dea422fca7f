//! The rise/fall state machine of one probed target: a pure core.
//!
//! [`Health::observe`] takes one probe result and the time it was seen and says whether the
//! target's state changed. A target starts [`State::Unknown`] (readers treat it as down) unless
//! its check says `start = "up"`; the first result then decides at once. After that a target
//! that is up needs `fall` consecutive failures to go down, and one that is down needs `rise`
//! consecutive successes to come up, so a target that alternates up/down on every probe keeps
//! its state when `rise` and `fall` are both at least 2.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// What readers see for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No probe result yet; counts as down.
    Unknown,
    Up,
    Down,
}

impl State {
    /// Whether traffic may be sent to a target in this state.
    pub fn is_up(self) -> bool {
        self == State::Up
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down => "down",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    pub from: State,
    pub to: State,
    pub reason: Arc<str>,
    pub at: Instant,
}

/// Rise/fall counters of one target.
#[derive(Debug, Clone)]
pub struct Health {
    state: State,
    rise: u32,
    fall: u32,
    /// Consecutive results that disagree with `state`.
    streak: u32,
    since: Option<Instant>,
    last_result: Option<Instant>,
}

impl Health {
    /// `rise` and `fall` below 1 are treated as 1.
    pub fn new(rise: u32, fall: u32, initial: State) -> Self {
        Health {
            state: initial,
            rise: rise.max(1),
            fall: fall.max(1),
            streak: 0,
            since: None,
            last_result: None,
        }
    }

    pub fn state(&self) -> State {
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
            (State::Unknown, true) => State::Up,
            (State::Unknown, false) => State::Down,
            (State::Up, true) | (State::Down, false) => {
                self.streak = 0;
                return None;
            }
            (State::Up, false) => {
                self.streak += 1;
                if self.streak < self.fall {
                    return None;
                }
                State::Down
            }
            (State::Down, true) => {
                self.streak += 1;
                if self.streak < self.rise {
                    return None;
                }
                State::Up
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
    fn run(h: &mut Health, results: &[bool]) -> Vec<State> {
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
        let mut h = Health::new(3, 3, State::Unknown);
        let t = tokio::time::Instant::now().into_std();
        let tr = h.observe(&bad(), t).expect("transition");
        assert_eq!((tr.from, tr.to), (State::Unknown, State::Down));
        assert_eq!(&*tr.reason, "connect refused");
        assert_eq!(h.since(), Some(t));

        let mut h = Health::new(3, 3, State::Unknown);
        assert_eq!(h.observe(&ok(), t).map(|t| t.to), Some(State::Up));
    }

    #[test]
    fn fall_needs_consecutive_failures() {
        let mut h = Health::new(2, 3, State::Up);
        use State::*;
        assert_eq!(
            run(&mut h, &[false, false, true, false, false, false, true]),
            vec![Up, Up, Up, Up, Up, Down, Down]
        );
    }

    #[test]
    fn rise_needs_consecutive_successes() {
        let mut h = Health::new(3, 1, State::Down);
        use State::*;
        assert_eq!(
            run(&mut h, &[true, true, false, true, true, true, false]),
            vec![Down, Down, Down, Down, Down, Up, Down]
        );
    }

    #[test]
    fn flapping_target_does_not_flap_with_rise2_fall2() {
        for start in [State::Unknown, State::Up, State::Down] {
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
        let mut h = Health::new(1, 2, State::Up);
        let t = tokio::time::Instant::now().into_std();
        assert!(h.observe(&bad(), t).is_none());
        assert!(h.observe(&bad(), t).is_some());
        assert!(h.observe(&bad(), t).is_none());
        assert!(h.observe(&ok(), t).is_some());
        assert!(h.observe(&ok(), t).is_none());
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let mut h = Health::new(0, 0, State::Up);
        use State::*;
        assert_eq!(run(&mut h, &[false, true]), vec![Down, Up]);
    }

    #[tokio::test(start_paused = true)]
    async fn since_follows_paused_clock() {
        let mut h = Health::new(1, 1, State::Unknown);
        let t0 = tokio::time::Instant::now();
        h.observe(&ok(), t0.into_std());
        tokio::time::sleep(Duration::from_secs(30)).await;
        let t1 = tokio::time::Instant::now();
        let tr = h.observe(&bad(), t1.into_std()).expect("down");
        assert_eq!(tr.at.duration_since(t0.into_std()), Duration::from_secs(30));
        assert_eq!(h.last_result(), Some(t1.into_std()));
    }
}
