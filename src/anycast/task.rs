//! The anycast task: evaluates every prefix on its own interval, applies the decision
//! through the backend (re-applying when the read-back disagrees), publishes the status,
//! applies a reloaded `[anycast]` (see [`super::reload`]) and, at shutdown, withdraws
//! everything it announced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backend::Backend;
use super::bfd::BfdStats;
use super::bird::Bird;
use super::conditions::{World, judge};
use super::decide::{Decider, Inputs, Params, Route};
use super::exabgp::Exabgp;
use super::selfcheck;
pub use super::status::{AnycastStatus, PrefixStatus};
use crate::config::{Anycast, AnycastBackend, AnycastCondition, AnycastPrefix};
use crate::health::Published;
use crate::lvs::VipState;
use crate::metrics::{METRICS, inc};
use crate::privilege::RunAs;
use crate::state::SharedState;

/// How long the final withdrawal at shutdown may take.
const FINAL_TIMEOUT: Duration = Duration::from_secs(3);

/// What the task reads.
pub struct TaskInputs {
    pub published: watch::Receiver<Arc<Published>>,
    pub vips: watch::Receiver<VipState>,
    pub state: SharedState,
    pub listen: Vec<SocketAddr>,
    /// Set when SIGTERM arrives.
    pub stopping: watch::Receiver<Option<Instant>>,
    /// `[anycast]` as reloaded (same backend and BFD settings as at the start).
    pub config: watch::Receiver<Arc<Anycast>>,
}

pub struct Task {
    cfg: Anycast,
    inputs: TaskInputs,
    backend: Backend,
    bfd: Option<Arc<BfdStats>>,
    status: watch::Sender<Arc<AnycastStatus>>,
}

struct Slot {
    decider: Decider,
    due: Instant,
    applied: Option<Route>,
    last: Option<Route>,
    changed: Instant,
}

impl Task {
    pub fn new(
        cfg: Anycast,
        inputs: TaskInputs,
        bfd: Option<Arc<BfdStats>>,
        run_as: Option<RunAs>,
    ) -> (Task, watch::Receiver<Arc<AnycastStatus>>) {
        let backend = match &cfg.backend {
            AnycastBackend::Bird { socket } => Backend::Bird(Bird::new(socket)),
            AnycastBackend::Exabgp { watchdog } => {
                Backend::Exabgp(Exabgp::start(*watchdog, run_as.map(|r| (r.uid, r.gid))))
            }
        };
        let (status, rx) = watch::channel(Arc::new(AnycastStatus::default()));
        (
            Task {
                cfg,
                inputs,
                backend,
                bfd,
                status,
            },
            rx,
        )
    }

    fn backend_name(&self) -> String {
        match &self.cfg.backend {
            AnycastBackend::Bird { socket } => format!("bird ({})", socket.display()),
            AnycastBackend::Exabgp { watchdog } => format!(
                "exabgp (relay watchdog {})",
                humantime::format_duration(*watchdog)
            ),
        }
    }

    fn params(&self, p: &AnycastPrefix, start: Instant) -> Params {
        Params {
            rise: p.rise,
            fall: p.fall,
            demote: p.demote.is_some(),
            grace_until: start + self.cfg.grace,
            drain: self.cfg.drain,
        }
    }

    fn slot(&self, p: &AnycastPrefix, start: Instant, now: Instant) -> Slot {
        Slot {
            decider: Decider::new(self.params(p, start)),
            due: now,
            applied: None,
            last: None,
            changed: now,
        }
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        let start = Instant::now();
        let mut slots: Vec<Slot> = self
            .cfg
            .prefixes
            .iter()
            .map(|p| self.slot(p, start, start))
            .collect();
        let mut rows: Vec<Option<PrefixStatus>> = vec![None; slots.len()];
        let mut stopping_open = true;
        let mut config_open = true;
        loop {
            let next = slots
                .iter()
                .map(|s| s.due)
                .min()
                .unwrap_or(start + Duration::from_secs(3600));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(next) => {}
                r = self.inputs.stopping.changed(), if stopping_open => {
                    stopping_open = r.is_ok();
                    let now = Instant::now();
                    for s in &mut slots { s.due = now; }
                }
                r = self.inputs.config.changed(), if config_open => {
                    config_open = r.is_ok();
                    if config_open {
                        let new = self.inputs.config.borrow_and_update().clone();
                        (slots, rows) = self.reconfigure(&new, slots, rows, start).await;
                    }
                }
            }
            let now = Instant::now();
            let due: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].due <= now).collect();
            let dns = if due
                .iter()
                .any(|&i| self.cfg.prefixes[i].when.contains(&AnycastCondition::Dns))
            {
                self.self_query(&due).await
            } else {
                Ok(())
            };
            for i in due {
                let p = self.cfg.prefixes[i].clone();
                let row = self.evaluate(&p, &mut slots[i], &dns).await;
                slots[i].due = now + p.interval;
                rows[i] = Some(row);
            }
            self.publish(&rows, &slots);
        }
        self.withdraw_all(&mut slots).await;
        self.publish(&rows, &slots);
    }

    /// A reloaded `[anycast]`: withdraw what left or changes its route, carry the state of
    /// the prefixes that stay, start new ones withdrawn; every prefix is evaluated at once.
    async fn reconfigure(
        &mut self,
        new: &Anycast,
        slots: Vec<Slot>,
        rows: Vec<Option<PrefixStatus>>,
        start: Instant,
    ) -> (Vec<Slot>, Vec<Option<PrefixStatus>>) {
        let plan = super::reload::plan(&self.cfg.prefixes, &new.prefixes);
        let settings_same = self.cfg.disable_file == new.disable_file
            && self.cfg.drain == new.drain
            && self.cfg.grace == new.grace;
        if plan.is_noop(slots.len()) && settings_same && self.cfg.prefixes == new.prefixes {
            return (slots, rows);
        }
        let mut old: Vec<Option<Slot>> = slots.into_iter().map(Some).collect();
        for &i in &plan.withdraw {
            let p = self.cfg.prefixes[i].clone();
            let r = self.backend.apply(&p, Route::Withdraw).await;
            if let Some(s) = old[i].as_mut() {
                s.applied = match &r {
                    Ok(()) => Some(Route::Withdraw),
                    Err(_) => None,
                };
            }
            match r {
                Ok(()) => {
                    inc(&METRICS.anycast_withdrawals);
                    tracing::info!(prefix = %p.prefix, "anycast: withdrawn by a reload");
                }
                Err(e) => {
                    inc(&METRICS.anycast_backend_errors);
                    tracing::error!(prefix = %p.prefix, error = %e, "anycast: not withdrawn at the reload");
                }
            }
        }
        let added = plan.carry.iter().filter(|c| c.is_none()).count();
        tracing::info!(
            prefixes = new.prefixes.len(),
            added,
            withdrawn = plan.withdraw.len(),
            "anycast: reloaded [anycast]"
        );
        self.cfg.grace = new.grace;
        self.cfg.drain = new.drain;
        self.cfg.disable_file = new.disable_file.clone();
        self.cfg.prefixes = new.prefixes.clone();
        let now = Instant::now();
        let mut slots = Vec::with_capacity(new.prefixes.len());
        let mut rows_out = Vec::with_capacity(new.prefixes.len());
        for (p, carry) in new.prefixes.iter().zip(&plan.carry) {
            let kept = carry.and_then(|i| old.get_mut(i).and_then(Option::take));
            let mut slot = match kept {
                Some(mut s) => {
                    s.decider.set_params(self.params(p, start));
                    s
                }
                None => self.slot(p, start, now),
            };
            slot.due = now;
            rows_out.push(carry.and_then(|i| rows.get(i).cloned().flatten()));
            slots.push(slot);
        }
        (slots, rows_out)
    }

    async fn self_query(&self, due: &[usize]) -> Result<(), String> {
        let shortest = due
            .iter()
            .map(|&i| self.cfg.prefixes[i].interval)
            .min()
            .unwrap_or(Duration::from_secs(1));
        let timeout = (shortest / 2).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let origin = {
            let snap = self.inputs.state.load();
            snap.zones
                .zones
                .first()
                .map(|z| crate::dns::name::to_text(&z.origin))
        };
        selfcheck::check(&self.inputs.listen, origin.as_deref(), timeout).await
    }

    async fn evaluate(
        &mut self,
        p: &AnycastPrefix,
        slot: &mut Slot,
        dns: &Result<(), String>,
    ) -> PrefixStatus {
        let now = Instant::now();
        let published = self.inputs.published.borrow().clone();
        let vips = self.inputs.vips.borrow().clone();
        let world = World {
            published: &published,
            vips: &vips,
            dns,
        };
        let conditions: Vec<(String, Option<String>)> = p
            .when
            .iter()
            .map(|c| (c.to_string(), judge(c, &world)))
            .collect();
        let disabled = [p.disable_file.as_ref(), self.cfg.disable_file.as_ref()]
            .into_iter()
            .flatten()
            .find(|f| f.exists())
            .map(|f| f.display().to_string());
        let inputs = Inputs {
            failing: conditions.iter().filter_map(|(_, w)| w.clone()).collect(),
            disabled,
            stopping_since: *self.inputs.stopping.borrow(),
        };
        let d = slot.decider.step(&inputs, now);
        if slot.last != Some(d.route) {
            tracing::info!(prefix = %p.prefix, state = d.route.as_str(), why = %d.why, "anycast decision");
            slot.last = Some(d.route);
            slot.changed = now;
        }
        let mut error = None;
        let result = if slot.applied == Some(d.route) {
            self.backend.verify(p, d.route).await
        } else {
            self.backend.apply(p, d.route).await
        };
        match result {
            Ok(()) => {
                if slot.applied != Some(d.route) {
                    match d.route {
                        Route::Announce => inc(&METRICS.anycast_announcements),
                        Route::Demote => inc(&METRICS.anycast_demotions),
                        Route::Withdraw => inc(&METRICS.anycast_withdrawals),
                    }
                    tracing::info!(prefix = %p.prefix, state = d.route.as_str(), "anycast route applied");
                }
                slot.applied = Some(d.route);
            }
            Err(e) => {
                inc(&METRICS.anycast_backend_errors);
                tracing::error!(prefix = %p.prefix, state = d.route.as_str(), error = %e, "anycast route not applied; retrying at the next evaluation");
                slot.applied = None;
                error = Some(e.to_string());
            }
        }
        PrefixStatus {
            prefix: p.prefix.to_string(),
            want: d.route,
            applied: slot.applied,
            why: d.why,
            healthy: slot.decider.healthy(),
            conditions,
            changed_ms_ago: 0,
            error,
        }
    }

    fn publish(&self, rows: &[Option<PrefixStatus>], slots: &[Slot]) {
        let now = Instant::now();
        let prefixes: Vec<PrefixStatus> = rows
            .iter()
            .zip(slots)
            .filter_map(|(r, s)| {
                r.clone().map(|mut r| {
                    r.changed_ms_ago =
                        u64::try_from(now.saturating_duration_since(s.changed).as_millis())
                            .unwrap_or(u64::MAX);
                    r.applied = s.applied;
                    r
                })
            })
            .collect();
        let announced = slots
            .iter()
            .filter(|s| matches!(s.applied, Some(Route::Announce | Route::Demote)))
            .count();
        METRICS
            .anycast_announced
            .store(announced as u64, Ordering::Relaxed);
        let bfd = self.bfd.as_ref().zip(self.cfg.bfd.as_ref()).map(|(s, c)| {
            let up = s.up.load(Ordering::Relaxed);
            METRICS.anycast_bfd_sessions_up.store(up, Ordering::Relaxed);
            (c.addr.to_string(), s.sessions.load(Ordering::Relaxed), up)
        });
        self.status.send_replace(Arc::new(AnycastStatus {
            backend: self.backend_name(),
            stopping: self.inputs.stopping.borrow().is_some(),
            prefixes,
            bfd,
        }));
    }

    /// Withdraw every prefix (shutdown); bounded by [`FINAL_TIMEOUT`].
    async fn withdraw_all(&mut self, slots: &mut [Slot]) {
        let prefixes = self.cfg.prefixes.clone();
        let backend = &mut self.backend;
        let all = async {
            for (p, s) in prefixes.iter().zip(slots.iter_mut()) {
                match backend.apply(p, Route::Withdraw).await {
                    Ok(()) => {
                        if s.applied != Some(Route::Withdraw) {
                            inc(&METRICS.anycast_withdrawals);
                        }
                        s.applied = Some(Route::Withdraw);
                        tracing::info!(prefix = %p.prefix, "anycast prefix withdrawn at shutdown");
                    }
                    Err(e) => {
                        inc(&METRICS.anycast_backend_errors);
                        tracing::error!(prefix = %p.prefix, error = %e, "anycast prefix not withdrawn at shutdown");
                    }
                }
            }
        };
        if tokio::time::timeout(FINAL_TIMEOUT, all).await.is_err() {
            tracing::error!("anycast: the final withdrawal did not finish within 3 s");
        }
    }
}
