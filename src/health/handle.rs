//! The control and read side of the scheduler: a cheap, clonable [`HealthHandle`].
//!
//! Readers get the current `Arc<HealthView>` or a `watch` receiver; the control plane (reload,
//! admin socket, CLI) replaces the target set and sets or clears overrides. Override commands
//! travel to the scheduler task over a bounded channel and wait for its answer, which comes
//! after the state file has been written.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{Override, OverrideState, OverrideTarget};

use super::overrides::{Listed, RuntimeOverride};

use super::HealthError;
use super::targets::TargetSet;
use super::view::HealthView;

pub(super) type Reply<T> = oneshot::Sender<Result<T, HealthError>>;

pub(super) enum Command {
    Set(
        OverrideTarget,
        RuntimeOverride,
        Reply<Option<OverrideState>>,
    ),
    /// target, origin node, author
    Clear(OverrideTarget, String, String, Reply<Option<OverrideState>>),
    /// Commands learned from other nodes.
    Merge(Vec<(OverrideTarget, RuntimeOverride)>),
    Configured(Vec<Override>),
}

/// The control and read side, cheap to clone.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    pub(super) view: watch::Receiver<Arc<HealthView>>,
    pub(super) targets: Arc<watch::Sender<TargetSet>>,
    pub(super) commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl HealthHandle {
    /// The current view.
    pub fn view(&self) -> Arc<HealthView> {
        self.view.borrow().clone()
    }

    /// A receiver that wakes on every published view.
    pub fn subscribe(&self) -> watch::Receiver<Arc<HealthView>> {
        self.view.clone()
    }

    /// Replaces the target set (reload); remaining keys keep their state.
    pub fn set_targets(&self, targets: TargetSet) {
        self.targets.send_replace(targets);
    }

    /// Replaces the overrides that come from the config file (reload).
    pub async fn set_configured_overrides(&self, list: Vec<Override>) -> Result<(), HealthError> {
        self.commands
            .send(Command::Configured(list))
            .await
            .map_err(|_| HealthError::SchedulerGone)
    }

    /// Forces a site, link or address; saved to the state file first. Returns the previous
    /// run-time override of that target.
    pub async fn set_override(
        &self,
        target: OverrideTarget,
        cmd: RuntimeOverride,
    ) -> Result<Option<OverrideState>, HealthError> {
        self.ask(|reply| Command::Set(target, cmd, reply)).await
    }

    /// Ends a run-time override (config overrides stay), recorded as a clear given on
    /// `origin` by `author`. Returns what it was.
    pub async fn clear_override(
        &self,
        target: OverrideTarget,
        origin: &str,
        author: &str,
    ) -> Result<Option<OverrideState>, HealthError> {
        self.ask(|reply| Command::Clear(target, origin.to_owned(), author.to_owned(), reply))
            .await
    }

    /// Offers commands learned from other nodes; the newer ones are taken and saved.
    pub async fn merge_overrides(
        &self,
        list: Vec<(OverrideTarget, RuntimeOverride)>,
    ) -> Result<(), HealthError> {
        self.commands
            .send(Command::Merge(list))
            .await
            .map_err(|_| HealthError::SchedulerGone)
    }

    /// Every override in force (config and run-time).
    pub fn list_overrides(&self) -> Vec<Listed> {
        self.view().overrides().list()
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, HealthError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| HealthError::SchedulerGone)?;
        rx.await.map_err(|_| HealthError::SchedulerGone)?
    }
}
