//! Operator overrides: force a site, a link or an address up, down or into drain.
//!
//! [`Overrides`] is a plain value: the overrides from the config file plus the commands given
//! at run time on this node or, with `[cluster]`, on any node. A run-time command wins over the
//! config file for the same target. Each command carries who gave it, why, when (the setter's
//! clock) and an optional expiry; a `clear` is kept as a command too (`state: None`), so that a
//! clear given on one node beats an older set given on another. Between two commands for one
//! target the newer wins: the greater `set_at_ms`, ties going to the greater origin node name,
//! so every node picks the same one. Only the run-time commands are persisted, in the
//! `[health] state_file` ([`super::statefile`]).
//!
//! Which override applies to a target (address, then link, then site) is the authority's
//! decision ([`super::authority`]), not this module's.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use crate::config::{Override, OverrideState, OverrideTarget};

use super::HealthError;

/// One run-time command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOverride {
    /// None: a clear.
    pub state: Option<OverrideState>,
    pub author: String,
    pub reason: String,
    /// When it was given, unix milliseconds (the setter's clock).
    pub set_at_ms: u64,
    pub expires_ms: Option<u64>,
    /// The node it was given on ("" without a cluster).
    pub origin: String,
}

impl RuntimeOverride {
    /// Whether `self` replaces `other` for the same target.
    pub fn newer_than(&self, other: &RuntimeOverride) -> bool {
        (self.set_at_ms, &self.origin) > (other.set_at_ms, &other.origin)
    }

    /// The state it forces; None for a clear (expired sets are turned into clears).
    pub fn in_force(&self) -> Option<OverrideState> {
        self.state
    }
}

/// An override in force, for lists and status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub target: OverrideTarget,
    pub state: OverrideState,
    /// None: from the config file.
    pub command: Option<RuntimeOverride>,
}

/// Config overrides plus run-time commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    configured: BTreeMap<OverrideTarget, OverrideState>,
    runtime: BTreeMap<OverrideTarget, RuntimeOverride>,
}

impl Overrides {
    /// Overrides from the config file (`Config::overrides`).
    pub fn from_config(list: &[Override]) -> Self {
        Overrides {
            configured: list.iter().map(|o| (o.target.clone(), o.state)).collect(),
            runtime: BTreeMap::new(),
        }
    }

    /// Replaces the configured part (on reload), keeping run-time commands.
    pub fn set_configured(&mut self, list: &[Override]) {
        self.configured = list.iter().map(|o| (o.target.clone(), o.state)).collect();
    }

    /// Sets a run-time override; returns the run-time state it replaces.
    pub fn set(&mut self, target: OverrideTarget, cmd: RuntimeOverride) -> Option<OverrideState> {
        self.runtime.insert(target, cmd).and_then(|c| c.in_force())
    }

    /// Sets a run-time override with no metadata (tests, config-like use).
    pub fn force(&mut self, target: OverrideTarget, state: OverrideState) -> Option<OverrideState> {
        self.set(
            target,
            RuntimeOverride {
                state: Some(state),
                author: String::new(),
                reason: String::new(),
                set_at_ms: 0,
                expires_ms: None,
                origin: String::new(),
            },
        )
    }

    /// Records a clear given at `at_ms` on `origin`; returns the run-time state it ends
    /// (None: there was none, and nothing is recorded). Config overrides stay.
    pub fn clear(
        &mut self,
        target: &OverrideTarget,
        at_ms: u64,
        origin: &str,
        author: &str,
    ) -> Option<OverrideState> {
        let prev = self
            .runtime
            .get(target)
            .and_then(RuntimeOverride::in_force)?;
        self.runtime.insert(
            target.clone(),
            RuntimeOverride {
                state: None,
                author: author.to_owned(),
                reason: String::new(),
                set_at_ms: at_ms,
                expires_ms: None,
                origin: origin.to_owned(),
            },
        );
        Some(prev)
    }

    /// Takes a command learned from another node if it is newer than the one held; true if
    /// it was taken.
    pub fn merge(&mut self, target: OverrideTarget, cmd: RuntimeOverride) -> bool {
        match self.runtime.get(&target) {
            Some(cur) if !cmd.newer_than(cur) => false,
            _ => {
                self.runtime.insert(target, cmd);
                true
            }
        }
    }

    /// Turns every set that expired at `now_ms` into a clear; true if one did.
    pub fn expire(&mut self, now_ms: u64) -> bool {
        let mut changed = false;
        for c in self.runtime.values_mut() {
            if c.state.is_some() && c.expires_ms.is_some_and(|x| x <= now_ms) {
                c.state = None;
                c.reason = format!("expired ({})", c.reason);
                changed = true;
            }
        }
        changed
    }

    /// The earliest expiry of a set still in force.
    pub fn next_expiry(&self) -> Option<u64> {
        self.runtime
            .values()
            .filter(|c| c.state.is_some())
            .filter_map(|c| c.expires_ms)
            .min()
    }

    /// The override in force for one target (a run-time set first, then config).
    pub fn get(&self, target: &OverrideTarget) -> Option<OverrideState> {
        if self.is_empty() {
            return None;
        }
        self.runtime
            .get(target)
            .and_then(RuntimeOverride::in_force)
            .or_else(|| self.configured.get(target).copied())
    }

    /// The override on an address alone.
    pub fn for_addr(&self, addr: IpAddr) -> Option<OverrideState> {
        self.get(&OverrideTarget::Addr(addr))
    }

    /// Every override in force, run-time winning, sorted by target.
    pub fn list(&self) -> Vec<Listed> {
        let mut out: BTreeMap<&OverrideTarget, Listed> = self
            .configured
            .iter()
            .map(|(t, s)| {
                (
                    t,
                    Listed {
                        target: t.clone(),
                        state: *s,
                        command: None,
                    },
                )
            })
            .collect();
        for (t, c) in &self.runtime {
            if let Some(state) = c.in_force() {
                out.insert(
                    t,
                    Listed {
                        target: t.clone(),
                        state,
                        command: Some(c.clone()),
                    },
                );
            }
        }
        out.into_values().collect()
    }

    /// Every run-time command, clears included (what is persisted and published).
    pub fn runtime(&self) -> &BTreeMap<OverrideTarget, RuntimeOverride> {
        &self.runtime
    }

    pub fn is_empty(&self) -> bool {
        self.configured.is_empty() && self.runtime.is_empty()
    }

    /// Replaces the run-time part (restored from the state file).
    pub fn set_runtime(&mut self, list: BTreeMap<OverrideTarget, RuntimeOverride>) {
        self.runtime = list;
    }

    /// Loads run-time commands from a state file; a missing file is an empty set.
    pub fn load_runtime(&mut self, path: &Path) -> Result<(), HealthError> {
        let file = super::statefile::StateFile::load(path)?;
        self.set_runtime(file.overrides);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(state: Option<OverrideState>, at: u64, origin: &str) -> RuntimeOverride {
        RuntimeOverride {
            state,
            author: "op".into(),
            reason: "test".into(),
            set_at_ms: at,
            expires_ms: None,
            origin: origin.into(),
        }
    }

    #[test]
    fn runtime_beats_config_and_clear_reveals_config() {
        let site = OverrideTarget::Site("hq".into());
        let mut o = Overrides::from_config(&[Override {
            target: site.clone(),
            state: OverrideState::Down,
        }]);
        o.force(site.clone(), OverrideState::Up);
        assert_eq!(o.get(&site), Some(OverrideState::Up));
        assert_eq!(o.list().len(), 1);
        assert_eq!(o.clear(&site, 5, "n1", "op"), Some(OverrideState::Up));
        assert_eq!(o.get(&site), Some(OverrideState::Down));
        // The clear is kept as a command.
        assert_eq!(o.runtime()[&site].state, None);
        assert_eq!(o.clear(&site, 6, "n1", "op"), None);
    }

    #[test]
    fn newest_command_wins_whatever_the_order() {
        let t = OverrideTarget::Addr("192.0.2.1".parse().unwrap());
        let a = cmd(Some(OverrideState::Down), 10, "a");
        let b = cmd(None, 20, "b");
        let c = cmd(Some(OverrideState::Drain), 20, "c");
        for order in [[&a, &b, &c], [&c, &b, &a], [&b, &a, &c]] {
            let mut o = Overrides::default();
            for x in order {
                o.merge(t.clone(), x.clone());
            }
            // Same time: the greater origin name wins.
            assert_eq!(o.get(&t), Some(OverrideState::Drain), "{order:?}");
        }
        let mut o = Overrides::default();
        o.merge(t.clone(), a.clone());
        assert!(o.merge(t.clone(), b.clone()));
        assert!(!o.merge(t.clone(), a), "an older set never comes back");
        assert_eq!(o.get(&t), None);
    }

    #[test]
    fn expired_sets_become_clears() {
        let t = OverrideTarget::Site("dr".into());
        let mut o = Overrides::default();
        let mut c = cmd(Some(OverrideState::Down), 10, "a");
        c.expires_ms = Some(100);
        o.set(t.clone(), c);
        assert_eq!(o.next_expiry(), Some(100));
        assert!(!o.expire(99));
        assert_eq!(o.get(&t), Some(OverrideState::Down));
        assert!(o.expire(100));
        assert_eq!(o.get(&t), None);
        assert_eq!(o.next_expiry(), None);
    }
}
