//! The pure decision: from one evaluation of a prefix's conditions to the route this node
//! should have in BGP for it, with the reason. Time is an argument.
//!
//! Per prefix, in order:
//! 1. stopping (SIGTERM): demoted for the first half of the drain period when a demotion is
//!    configured, then withdrawn;
//! 2. a maintenance file present: withdrawn;
//! 3. within the start grace period: withdrawn (the probes have not spoken yet);
//! 4. rise/fall over consecutive evaluations: a withdrawn prefix is announced after `rise`
//!    passing evaluations in a row; an announced one is withdrawn after `fall` failing ones
//!    in a row, and in between (1 ≤ failures < fall) it is demoted when a demotion is
//!    configured, so traffic leaves before the route does.

use std::time::Duration;

use tokio::time::Instant;

/// What this node wants in BGP for a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Announce,
    /// Announced with worse attributes.
    Demote,
    Withdraw,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Announce => "announced",
            Route::Demote => "demoted",
            Route::Withdraw => "withdrawn",
        }
    }
}

/// A route and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub route: Route,
    pub why: String,
}

/// One evaluation's inputs.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The conditions that fail, each with its reason (empty: all hold).
    pub failing: Vec<String>,
    /// A maintenance file that is present.
    pub disabled: Option<String>,
    /// When SIGTERM arrived.
    pub stopping_since: Option<Instant>,
}

/// A prefix's thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub rise: u32,
    pub fall: u32,
    pub demote: bool,
    /// No announcement before this instant.
    pub grace_until: Instant,
    pub drain: Duration,
}

/// The debounced health of one prefix.
#[derive(Debug, Clone)]
pub struct Decider {
    params: Params,
    healthy: bool,
    /// Consecutive evaluations against the current `healthy` value.
    streak: u32,
}

impl Decider {
    pub fn new(params: Params) -> Decider {
        Decider {
            params,
            healthy: false,
            streak: 0,
        }
    }

    /// New thresholds (a reload); the current health and streak are kept.
    pub fn set_params(&mut self, params: Params) {
        self.params = params;
    }

    /// Whether rise/fall currently count the prefix healthy.
    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// One evaluation at `now`.
    pub fn step(&mut self, input: &Inputs, now: Instant) -> Decision {
        let ok = input.failing.is_empty();
        let p = self.params;
        if ok == self.healthy {
            self.streak = 0;
        } else {
            self.streak += 1;
            let needed = if ok { p.rise } else { p.fall };
            if self.streak >= needed {
                self.healthy = ok;
                self.streak = 0;
            }
        }
        let failing = input.failing.join("; ");
        let d = |route, why: String| Decision { route, why };
        if let Some(since) = input.stopping_since {
            return if p.demote && now < since + p.drain / 2 {
                d(
                    Route::Demote,
                    "stopping: demoted for the first half of the drain period".into(),
                )
            } else {
                d(Route::Withdraw, "stopping".into())
            };
        }
        if let Some(file) = &input.disabled {
            return d(
                Route::Withdraw,
                format!("maintenance file {file} is present"),
            );
        }
        if now < p.grace_until {
            let left = p.grace_until - now;
            return d(
                Route::Withdraw,
                format!("start grace period: {} ms left", left.as_millis()),
            );
        }
        match (self.healthy, self.streak) {
            (true, 0) => d(Route::Announce, "every condition holds".into()),
            (true, n) if p.demote => d(
                Route::Demote,
                format!("failing {n}/{} evaluations: {failing}", p.fall),
            ),
            (true, n) => d(
                Route::Announce,
                format!("failing {n}/{} evaluations: {failing}", p.fall),
            ),
            (false, 0) => d(Route::Withdraw, failing),
            (false, n) => d(
                Route::Withdraw,
                format!("recovering: {n}/{} passing evaluations", p.rise),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
