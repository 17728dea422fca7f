//! Operator overrides: force a site, a link or an address up, down or into drain.
//!
//! [`Overrides`] is a plain value: the overrides from the config file plus the ones set at run
//! time (which win for the same target). Only the run-time ones are persisted, as JSON in the
//! `[health] state_file`, written atomically (temporary file in the same folder, fsync, rename,
//! fsync of the folder) so that a crash leaves either the old or the new file.
//!
//! Resolution for one address: an address override beats a link override, which beats a site
//! override; without any, the probe decides.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

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

    /// Loads run-time overrides from a state file; a missing file is an empty set.
    pub fn load_runtime(&mut self, path: &Path) -> Result<(), HealthError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(HealthError::StateFile {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let file: StateFile =
            serde_json::from_str(&text).map_err(|e| HealthError::StateFileFormat {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        if file.version != STATE_VERSION {
            return Err(HealthError::StateFileFormat {
                path: path.to_owned(),
                message: format!("unsupported version {}", file.version),
            });
        }
        self.runtime = file
            .overrides
            .into_iter()
            .map(|e| e.into_pair())
            .collect::<Result<_, _>>()
            .map_err(|message| HealthError::StateFileFormat {
                path: path.to_owned(),
                message,
            })?;
        Ok(())
    }

    /// Writes the run-time overrides to `path` atomically.
    pub fn save_runtime(&self, path: &Path) -> Result<(), HealthError> {
        let file = StateFile {
            version: STATE_VERSION,
            overrides: self
                .runtime
                .iter()
                .map(|(t, s)| Entry::from_pair(t, *s))
                .collect(),
        };
        let mut text =
            serde_json::to_vec_pretty(&file).map_err(|e| HealthError::StateFileFormat {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        text.push(b'\n');
        write_atomically(path, &text).map_err(|source| HealthError::StateFile {
            path: path.to_owned(),
            source,
        })
    }
}

const STATE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    overrides: Vec<Entry>,
}

/// `{"site":"hq","state":"down"}`, `{"site":"hq","link":"telecom","state":"drain"}`,
/// `{"addr":"192.0.2.1","state":"up"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    addr: Option<IpAddr>,
    state: StateName,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StateName {
    Up,
    Down,
    Drain,
}

impl Entry {
    fn from_pair(target: &OverrideTarget, state: OverrideState) -> Entry {
        let state = match state {
            OverrideState::Up => StateName::Up,
            OverrideState::Down => StateName::Down,
            OverrideState::Drain => StateName::Drain,
        };
        let (site, link, addr) = match target {
            OverrideTarget::Site(s) => (Some(s.clone()), None, None),
            OverrideTarget::Link { site, link } => (Some(site.clone()), Some(link.clone()), None),
            OverrideTarget::Addr(a) => (None, None, Some(*a)),
        };
        Entry {
            site,
            link,
            addr,
            state,
        }
    }

    fn into_pair(self) -> Result<(OverrideTarget, OverrideState), String> {
        let state = match self.state {
            StateName::Up => OverrideState::Up,
            StateName::Down => OverrideState::Down,
            StateName::Drain => OverrideState::Drain,
        };
        let target = match (self.site, self.link, self.addr) {
            (Some(site), None, None) => OverrideTarget::Site(site),
            (Some(site), Some(link), None) => OverrideTarget::Link { site, link },
            (None, None, Some(addr)) => OverrideTarget::Addr(addr),
            _ => return Err("an override names a site, a site and a link, or an addr".into()),
        };
        Ok((target, state))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("state file path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        // The temporary file may not exist; the original error is what matters.
        if let Err(e) = std::fs::remove_file(&tmp) {
            tracing::debug!(path = %tmp.display(), error = %e, "no temporary state file to remove");
        }
    }
    result
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

    #[test]
    fn state_file_round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut o = Overrides::default();
        o.load_runtime(&path).unwrap(); // missing file = empty
        assert!(o.is_empty());
        o.set(OverrideTarget::Site("hq".into()), OverrideState::Down);
        o.set(link("dr", "unicom"), OverrideState::Drain);
        o.set(
            OverrideTarget::Addr(addr("2001:db8::10")),
            OverrideState::Up,
        );
        o.save_runtime(&path).unwrap();
        o.clear(&OverrideTarget::Site("hq".into()));
        o.save_runtime(&path).unwrap();

        let mut back = Overrides::default();
        back.load_runtime(&path).unwrap();
        assert_eq!(back.runtime(), o.runtime());
        assert_eq!(back.runtime().len(), 2);
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn bad_state_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for text in [
            "not json",
            r#"{"version":2,"overrides":[]}"#,
            r#"{"version":1,"overrides":[{"link":"x","state":"up"}]}"#,
            r#"{"version":1,"overrides":[{"site":"hq","state":"sideways"}]}"#,
            r#"{"version":1,"overrides":[],"extra":1}"#,
        ] {
            std::fs::write(&path, text).unwrap();
            let mut o = Overrides::default();
            let err = o.load_runtime(&path).unwrap_err();
            assert!(
                matches!(err, HealthError::StateFileFormat { .. }),
                "{text}: {err}"
            );
        }
    }
}
