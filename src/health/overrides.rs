//! Operator overrides: force a site, a link or an address up, down or into drain.
//!
//! [`Overrides`] is a plain value: the overrides from the config file plus the ones set at run
//! time (which win for the same target). Only the run-time ones are persisted, in the
//! `[health] state_file` ([`super::statefile`]).
//!
//! Resolution for one address: an address override beats a link override, which beats a site
//! override; without any, the probe decides.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use crate::config::{Override, OverrideState, OverrideTarget};

use super::HealthError;

/// Config overrides plus run-time overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    configured: BTreeMap<OverrideTarget, OverrideState>,
    runtime: BTreeMap<OverrideTarget, OverrideState>,
}

impl Overrides {
    /// Overrides from the config file (`Config::overrides`).
    pub fn from_config(list: &[Override]) -> Self {
        Overrides {
            configured: list.iter().map(|o| (o.target.clone(), o.state)).collect(),
            runtime: BTreeMap::new(),
        }
    }

    /// Replaces the configured part (on reload), keeping run-time overrides.
    pub fn set_configured(&mut self, list: &[Override]) {
        self.configured = list.iter().map(|o| (o.target.clone(), o.state)).collect();
    }

    /// Sets a run-time override; returns the previous run-time state of that target.
    pub fn set(&mut self, target: OverrideTarget, state: OverrideState) -> Option<OverrideState> {
        self.runtime.insert(target, state)
    }

    /// Clears a run-time override; returns what it was. Config overrides stay.
    pub fn clear(&mut self, target: &OverrideTarget) -> Option<OverrideState> {
        self.runtime.remove(target)
    }

    /// The override in force for one target (run-time first, then config).
    pub fn get(&self, target: &OverrideTarget) -> Option<OverrideState> {
        self.runtime
            .get(target)
            .or_else(|| self.configured.get(target))
            .copied()
    }

    /// Every override in force, run-time winning, sorted by target.
    pub fn list(&self) -> Vec<Override> {
        let mut merged = self.configured.clone();
        merged.extend(self.runtime.iter().map(|(t, s)| (t.clone(), *s)));
        merged
            .into_iter()
            .map(|(target, state)| Override { target, state })
            .collect()
    }

    /// Only the run-time overrides (what is persisted).
    pub fn runtime(&self) -> Vec<Override> {
        self.runtime
            .iter()
            .map(|(t, s)| Override {
                target: t.clone(),
                state: *s,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.configured.is_empty() && self.runtime.is_empty()
    }

    /// The most specific override for an address reached through `site`'s link `link`.
    pub fn resolve(&self, site: &str, link: &str, addr: IpAddr) -> Option<OverrideState> {
        if self.is_empty() {
            return None;
        }
        self.get(&OverrideTarget::Addr(addr))
            .or_else(|| {
                self.get(&OverrideTarget::Link {
                    site: site.to_owned(),
                    link: link.to_owned(),
                })
            })
            .or_else(|| self.get(&OverrideTarget::Site(site.to_owned())))
    }

    /// The override for an address alone (LVS real servers have no site/link).
    pub fn for_addr(&self, addr: IpAddr) -> Option<OverrideState> {
        if self.is_empty() {
            return None;
        }
        self.get(&OverrideTarget::Addr(addr))
    }

    /// Replaces the run-time part (restored from the state file).
    pub fn set_runtime(&mut self, list: &[Override]) {
        self.runtime = list.iter().map(|o| (o.target.clone(), o.state)).collect();
    }

    /// Loads run-time overrides from a state file; a missing file is an empty set.
    pub fn load_runtime(&mut self, path: &Path) -> Result<(), HealthError> {
        let file = super::statefile::StateFile::load(path)?;
        self.set_runtime(&file.overrides);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn link(site: &str, link: &str) -> OverrideTarget {
        OverrideTarget::Link {
            site: site.into(),
            link: link.into(),
        }
    }

    #[test]
    fn most_specific_override_wins() {
        let mut o = Overrides::default();
        let a = addr("192.0.2.1");
        assert_eq!(o.resolve("hq", "telecom", a), None);
        o.set(OverrideTarget::Site("hq".into()), OverrideState::Down);
        assert_eq!(o.resolve("hq", "telecom", a), Some(OverrideState::Down));
        assert_eq!(o.resolve("dr", "telecom", a), None);
        o.set(link("hq", "telecom"), OverrideState::Drain);
        assert_eq!(o.resolve("hq", "telecom", a), Some(OverrideState::Drain));
        assert_eq!(o.resolve("hq", "default", a), Some(OverrideState::Down));
        o.set(OverrideTarget::Addr(a), OverrideState::Up);
        assert_eq!(o.resolve("hq", "telecom", a), Some(OverrideState::Up));
        assert_eq!(o.for_addr(a), Some(OverrideState::Up));
        assert_eq!(o.clear(&OverrideTarget::Addr(a)), Some(OverrideState::Up));
        assert_eq!(o.resolve("hq", "telecom", a), Some(OverrideState::Drain));
    }

    #[test]
    fn runtime_beats_config_and_clear_reveals_config() {
        let site = OverrideTarget::Site("hq".into());
        let mut o = Overrides::from_config(&[Override {
            target: site.clone(),
            state: OverrideState::Down,
        }]);
        o.set(site.clone(), OverrideState::Up);
        assert_eq!(o.get(&site), Some(OverrideState::Up));
        assert_eq!(o.list().len(), 1);
        o.clear(&site);
        assert_eq!(o.get(&site), Some(OverrideState::Down));
        assert!(o.runtime().is_empty());
    }
}
