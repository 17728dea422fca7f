//! The scheduler's commands and its state file: overrides set, cleared and expired (saved
//! before they take effect, so a failed save changes nothing), and the probe states saved
//! (debounced) and restored at start.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Scheduler;
use crate::health::HealthError;
use crate::health::handle::Command;
use crate::health::overrides::{Overrides, RuntimeOverride};
use crate::health::statefile::{self, ProbeState, SavedProbe, StateFile};
use crate::health::verdict::Status;
use crate::health::view::ProbeStatus;

impl Scheduler {
    pub(super) async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Configured(list) => {
                let mut next = (*self.overrides).clone();
                next.set_configured(&list);
                self.overrides = Arc::new(next);
                self.publish();
            }
            Command::Set(target, cmd, reply) => {
                let mut next = (*self.overrides).clone();
                let state = cmd.state;
                let prev = next.set(target.clone(), cmd);
                let r = self.commit(next).await.map(|()| prev);
                if r.is_ok() {
                    tracing::info!(target_name = %target, state = ?state, "override set");
                }
                if reply.send(r).is_err() {
                    tracing::debug!("override caller went away");
                }
            }
            Command::Clear(target, origin, author, reply) => {
                let mut next = (*self.overrides).clone();
                let now = statefile::unix_ms(SystemTime::now());
                let prev = next.clear(&target, now, &origin, &author);
                let r = match prev {
                    Some(_) => self.commit(next).await.map(|()| prev),
                    None => Ok(None),
                };
                if matches!(r, Ok(Some(_))) {
                    tracing::info!(target_name = %target, "override cleared");
                }
                if reply.send(r).is_err() {
                    tracing::debug!("override caller went away");
                }
            }
            Command::Merge(list) => {
                let mut next = (*self.overrides).clone();
                let mut taken = 0;
                for (target, cmd) in list {
                    let state = cmd.state;
                    let origin = cmd.origin.clone();
                    if next.merge(target.clone(), cmd) {
                        taken += 1;
                        tracing::info!(target_name = %target, state = ?state, origin = %origin,
                            "override learned from the cluster");
                    }
                }
                if taken > 0
                    && let Err(e) = self.commit(next).await
                {
                    tracing::error!(error = %e, "overrides learned from the cluster not saved; not applied");
                }
            }
        }
    }

    /// Turns expired overrides into clears and publishes.
    pub(super) async fn expire(&mut self) {
        let mut next = (*self.overrides).clone();
        if next.expire(statefile::unix_ms(SystemTime::now()))
            && let Err(e) = self.commit(next).await
        {
            tracing::error!(error = %e, "expired overrides not saved");
        }
    }

    /// When the next override expires, on the tokio clock.
    pub(super) fn next_expiry(&self) -> Option<tokio::time::Instant> {
        let at = self.overrides.next_expiry()?;
        let wait = Duration::from_millis(at.saturating_sub(statefile::unix_ms(SystemTime::now())));
        Some(tokio::time::Instant::now() + wait)
    }

    /// Saves, then adopts and publishes `next`; a failed save changes nothing.
    pub(super) async fn commit(&mut self, next: Overrides) -> Result<(), HealthError> {
        if self.state_file.is_some() {
            self.write_state(next.runtime().clone()).await?;
            self.unsaved = false;
        }
        self.overrides = Arc::new(next);
        self.publish();
        Ok(())
    }

    /// Writes the state file with these overrides and the current probe states.
    pub(super) async fn write_state(
        &mut self,
        overrides: std::collections::BTreeMap<crate::config::OverrideTarget, RuntimeOverride>,
    ) -> Result<(), HealthError> {
        let Some(path) = self.state_file.clone() else {
            return Ok(());
        };
        self.last_save = tokio::time::Instant::now();
        let file = StateFile {
            overrides,
            probes: self.saved_probes(),
        };
        tokio::task::spawn_blocking(move || file.save(&path))
            .await
            .map_err(|e| HealthError::TaskFailed(e.to_string()))?
    }

    /// Saves probe states (debounced by the loop); a failure is logged and retried later.
    pub(super) async fn save_probes(&mut self) {
        let overrides = self.overrides.runtime().clone();
        match self.write_state(overrides).await {
            Ok(()) => self.unsaved = false,
            Err(e) => tracing::warn!(error = %e, "cannot save probe states; retrying"),
        }
    }

    /// Every probe with a result, for the state file.
    pub(super) fn saved_probes(&self) -> Vec<SavedProbe> {
        let now = tokio::time::Instant::now().into_std();
        let wall = SystemTime::now();
        let mut out: Vec<SavedProbe> = self
            .probes
            .values()
            .filter_map(|p| {
                let st = self.statuses.get(p.slot)?;
                let state = match st.state {
                    Status::Up => ProbeState::Up,
                    Status::Down => ProbeState::Down,
                    Status::Unknown | Status::Drain | Status::Full => return None,
                };
                let since_ms = st
                    .since
                    .map(|t| statefile::unix_ms(wall - now.saturating_duration_since(t)));
                Some(SavedProbe {
                    probe: p.key.id(),
                    state,
                    since_ms,
                    reason: st.reason.to_string(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.probe.cmp(&b.probe));
        out
    }
}

/// The status a saved probe starts with.
pub(super) fn restored_status(saved: &SavedProbe) -> ProbeStatus {
    let now = tokio::time::Instant::now().into_std();
    let since = saved
        .since_ms
        .map(|ms| statefile::age(ms, SystemTime::now()))
        .and_then(|age| now.checked_sub(age));
    ProbeStatus {
        state: saved.state.into(),
        since,
        reason: Arc::from(format!("restored: {}", saved.reason)),
    }
}
