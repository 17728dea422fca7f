//! The `[health] state_file`: run-time overrides and the last known probe states, so that a
//! restart neither forgets an operator's decision nor sends clients back to a dead site for
//! an interval.
//!
//! JSON, written atomically: a temporary file with a random name in the same folder, created
//! exclusively (never through an existing file or symlink), fsync, rename, fsync of the
//! folder; a crash leaves the old or the new file. Version 1 files (overrides only) are read.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::config::{OverrideState, OverrideTarget};

use super::overrides::RuntimeOverride;

use super::HealthError;
use super::verdict::Status;
use crate::files::{self, FileError};

const VERSION: u32 = 2;

/// The last known state of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedProbe {
    /// [`super::ProbeKey::id`]: kind, address and a fingerprint of the check.
    pub probe: String,
    pub state: ProbeState,
    /// When the state began, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    #[serde(default)]
    pub reason: String,
}

/// The states a probe can be saved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeState {
    Up,
    Down,
}

impl From<ProbeState> for Status {
    fn from(s: ProbeState) -> Status {
        match s {
            ProbeState::Up => Status::Up,
            ProbeState::Down => Status::Down,
        }
    }
}

/// What the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateFile {
    /// Run-time override commands, clears included.
    pub overrides: BTreeMap<OverrideTarget, RuntimeOverride>,
    pub probes: Vec<SavedProbe>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: u32,
    overrides: Vec<Entry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    probes: Vec<SavedProbe>,
}

/// `{"site":"hq","state":"down"}`, `{"site":"hq","link":"telecom","state":"drain"}`,
/// `{"addr":"192.0.2.1","state":"up","author":"ops","reason":"...","set_at_ms":...}`;
/// `"state":"clear"` records a clear.
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
    #[serde(default, skip_serializing_if = "String::is_empty")]
    author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    reason: String,
    #[serde(default)]
    set_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    origin: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StateName {
    Up,
    Down,
    Drain,
    Clear,
}

impl Entry {
    fn from_command(target: &OverrideTarget, c: &RuntimeOverride) -> Entry {
        let state = match c.state {
            Some(OverrideState::Up) => StateName::Up,
            Some(OverrideState::Down) => StateName::Down,
            Some(OverrideState::Drain) => StateName::Drain,
            None => StateName::Clear,
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
            author: c.author.clone(),
            reason: c.reason.clone(),
            set_at_ms: c.set_at_ms,
            expires_ms: c.expires_ms,
            origin: c.origin.clone(),
        }
    }

    fn into_command(self) -> Result<(OverrideTarget, RuntimeOverride), String> {
        let state = match self.state {
            StateName::Up => Some(OverrideState::Up),
            StateName::Down => Some(OverrideState::Down),
            StateName::Drain => Some(OverrideState::Drain),
            StateName::Clear => None,
        };
        let target = match (self.site, self.link, self.addr) {
            (Some(site), None, None) => OverrideTarget::Site(site),
            (Some(site), Some(link), None) => OverrideTarget::Link { site, link },
            (None, None, Some(addr)) => OverrideTarget::Addr(addr),
            _ => return Err("an override names a site, a site and a link, or an addr".into()),
        };
        let cmd = RuntimeOverride {
            state,
            author: self.author,
            reason: self.reason,
            set_at_ms: self.set_at_ms,
            expires_ms: self.expires_ms,
            origin: self.origin,
        };
        Ok((target, cmd))
    }
}

impl StateFile {
    /// Reads a state file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<StateFile, HealthError> {
        let format = |message: String| HealthError::StateFileFormat {
            path: path.to_owned(),
            message,
        };
        let text = match files::read_text(path, files::limit::STATE) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(StateFile::default()),
            Err(FileError::Io { source, .. }) => {
                return Err(HealthError::StateFile {
                    path: path.to_owned(),
                    source,
                });
            }
            Err(e) => return Err(format(e.to_string())),
        };
        let raw: Raw = serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
        if raw.version != VERSION && raw.version != 1 {
            return Err(format(format!("unsupported version {}", raw.version)));
        }
        let overrides = raw
            .overrides
            .into_iter()
            .map(Entry::into_command)
            .collect::<Result<_, _>>()
            .map_err(format)?;
        Ok(StateFile {
            overrides,
            probes: raw.probes,
        })
    }

    /// Loads the state file for `serve`, which must start even when the file is unusable: a
    /// corrupt file (truncated, not JSON, not a regular file, too large) is logged as an
    /// error and renamed `<name>.corrupt-<unix time>` so the next save starts afresh and the
    /// operator can inspect it; any other failure is logged and an empty state is used.
    pub fn load_or_set_aside(path: &Path, now: SystemTime) -> StateFile {
        match StateFile::load(path) {
            Ok(f) => f,
            Err(e @ HealthError::StateFileFormat { .. }) => {
                let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let mut aside = path.as_os_str().to_owned();
                aside.push(format!(".corrupt-{secs}"));
                match std::fs::rename(path, &aside) {
                    Ok(()) => tracing::error!(
                        moved_to = %Path::new(&aside).display(),
                        "state file unusable, starting without saved overrides and probe \
                         states: {e}"
                    ),
                    Err(mv) => tracing::error!(
                        "state file unusable, starting without saved overrides and probe \
                         states: {e}; and it could not be moved aside: {mv}"
                    ),
                }
                StateFile::default()
            }
            Err(e) => {
                tracing::error!("state file not read, starting without saved state: {e}");
                StateFile::default()
            }
        }
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), HealthError> {
        let raw = Raw {
            version: VERSION,
            overrides: self
                .overrides
                .iter()
                .map(|(t, c)| Entry::from_command(t, c))
                .collect(),
            probes: self.probes.clone(),
        };
        let mut text =
            serde_json::to_vec_pretty(&raw).map_err(|e| HealthError::StateFileFormat {
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

/// Milliseconds since the Unix epoch of `t`.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long ago `since_ms` was, seen from `now` (zero for a time in the future).
pub fn age(since_ms: u64, now: SystemTime) -> Duration {
    Duration::from_millis(unix_ms(now).saturating_sub(since_ms))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("state file path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{:016x}", rand::random::<u64>()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
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

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(StateFile::load(&path).unwrap(), StateFile::default());
        let cmd = |state, at| RuntimeOverride {
            state,
            author: "ops".into(),
            reason: "maintenance".into(),
            set_at_ms: at,
            expires_ms: Some(at + 1000),
            origin: "n1".into(),
        };
        let mut f = StateFile {
            overrides: [
                (
                    OverrideTarget::Site("hq".into()),
                    cmd(Some(OverrideState::Down), 1),
                ),
                (
                    OverrideTarget::Link {
                        site: "dr".into(),
                        link: "unicom".into(),
                    },
                    cmd(Some(OverrideState::Drain), 2),
                ),
                (OverrideTarget::Addr(addr("2001:db8::10")), cmd(None, 3)),
            ]
            .into(),
            probes: vec![SavedProbe {
                probe: "tcp 127.0.0.1:80 0123abcd".into(),
                state: ProbeState::Down,
                since_ms: Some(1_700_000_000_000),
                reason: "connect refused".into(),
            }],
        };
        f.save(&path).unwrap();
        f.overrides.remove(&OverrideTarget::Site("hq".into()));
        f.save(&path).unwrap();
        assert_eq!(StateFile::load(&path).unwrap(), f);
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn version_1_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"version":1,"overrides":[{"site":"hq","state":"down"}]}"#,
        )
        .unwrap();
        let f = StateFile::load(&path).unwrap();
        assert_eq!(f.overrides.len(), 1);
        assert!(f.probes.is_empty());
    }

    #[test]
    fn bad_state_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for text in [
            "not json",
            r#"{"version":3,"overrides":[]}"#,
            r#"{"version":1,"overrides":[{"link":"x","state":"up"}]}"#,
            r#"{"version":1,"overrides":[{"site":"hq","state":"sideways"}]}"#,
            r#"{"version":1,"overrides":[],"extra":1}"#,
            r#"{"version":2,"overrides":[],"probes":[{"probe":"x","state":"drain"}]}"#,
            r#"{"version":2,"overrides":[],"probes":[{"probe":"x","state":"up""#,
        ] {
            std::fs::write(&path, text).unwrap();
            let err = StateFile::load(&path).unwrap_err();
            assert!(
                matches!(err, HealthError::StateFileFormat { .. }),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn a_corrupt_file_is_set_aside_and_an_empty_state_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, r#"{"version":2,"overrides":[{"site":"hq","st"#).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            StateFile::load_or_set_aside(&path, now),
            StateFile::default()
        );
        assert!(!path.exists());
        let aside = dir.path().join("state.json.corrupt-1700000000");
        assert!(
            std::fs::read_to_string(aside)
                .unwrap()
                .starts_with("{\"version\"")
        );
        // A missing file is simply empty, and nothing is moved.
        assert_eq!(
            StateFile::load_or_set_aside(&path, now),
            StateFile::default()
        );
        // A folder in its place is refused without reading, and moved aside too.
        std::fs::create_dir(&path).unwrap();
        let e = StateFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
    }

    #[test]
    fn a_symlink_at_the_temporary_name_is_not_followed() {
        // The temporary name is random, so a planted link cannot be predicted; and a file
        // that exists where the final file goes is replaced, not written through.
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let path = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        StateFile::default().save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
    }
}
