//! Recent state changes: a bounded ring of the last [`KEEP`] verdict changes the authority
//! published (when, which target, from, to, and which evidence decided), shown by the status
//! page and `/status`. Pure: the authority's task passes the wall-clock time in.
//!
//! A target is matched between two publications by what it is, not by its index, so a
//! reload that reorders targets records nothing; a target that only exists in one of the two
//! (added or removed by a reload) has no "from" and records nothing either.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use serde_json::{Value, json};

use crate::config::VirtualKey;

use super::authority::Published;
use super::verdict::Status;

/// How many changes the ring keeps.
pub const KEEP: usize = 50;

/// One published change of a target's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// `hq/default 192.0.2.10` for a DNS target, `TCP 192.0.2.10:80 → 10.0.0.1:80` for a
    /// real server.
    pub target: String,
    pub from: Status,
    pub to: Status,
    /// The evidence that decided the new status ("probe", "site override", ...).
    pub why: &'static str,
}

/// The last [`KEEP`] changes, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeLog {
    recent: VecDeque<Change>,
}

impl ChangeLog {
    /// Appends `changes` (see [`diff`]), dropping the oldest beyond [`KEEP`].
    pub fn extend(&mut self, changes: impl IntoIterator<Item = Change>) {
        for c in changes {
            if self.recent.len() == KEEP {
                self.recent.pop_front();
            }
            self.recent.push_back(c);
        }
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Change> {
        self.recent.iter().rev()
    }

    pub fn len(&self) -> usize {
        self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }

    /// `[{"at_ms", "target", "from", "to", "why"}]`, newest first.
    pub fn json(&self) -> Value {
        Value::Array(
            self.newest_first()
                .map(|c| {
                    json!({
                        "at_ms": c.at_ms,
                        "target": c.target,
                        "from": c.from.as_str(),
                        "to": c.to.as_str(),
                        "why": c.why,
                    })
                })
                .collect(),
        )
    }
}

/// The status changes between two publications: DNS targets in registration order, then
/// real servers.
pub fn diff(old: &Published, new: &Published, at_ms: u64) -> Vec<Change> {
    let mut out = Vec::new();
    let before: HashMap<(&str, &str, IpAddr), Status> = old
        .registry
        .dns
        .iter()
        .zip(old.dns.iter())
        .map(|(t, v)| ((t.site.as_str(), t.link.as_str(), t.addr), v.status))
        .collect();
    for (t, v) in new.registry.dns.iter().zip(new.dns.iter()) {
        match before.get(&(t.site.as_str(), t.link.as_str(), t.addr)) {
            Some(&from) if from != v.status => out.push(Change {
                at_ms,
                target: format!("{}/{} {}", t.site, t.link, t.addr),
                from,
                to: v.status,
                why: v.source.as_str(),
            }),
            _ => {}
        }
    }
    let before: HashMap<(&VirtualKey, &SocketAddr), Status> = old
        .lvs
        .iter()
        .map(|((k, a), v)| ((k, a), v.status))
        .collect();
    for ((k, a), v) in new.lvs.iter() {
        match before.get(&(k, a)) {
            Some(&from) if from != v.status => out.push(Change {
                at_ms,
                target: format!("{} → {a}", crate::lvs::client::key_display(k)),
                from,
                to: v.status,
                why: v.source.as_str(),
            }),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Protocol;
    use crate::health::authority::{DnsTarget, RealTable, Registry};
    use crate::health::verdict::{Level, Source, Table, Verdict};

    fn target(site: &str, ip: &str) -> DnsTarget {
        DnsTarget {
            site: site.into(),
            link: "default".into(),
            addr: ip.parse().unwrap(),
        }
    }

    fn v(status: Status, source: Source) -> Verdict {
        Verdict { status, source }
    }

    fn published(targets: Vec<DnsTarget>, verdicts: Vec<Verdict>, lvs: RealTable) -> Published {
        Published {
            generation: 1,
            registry: Arc::new(Registry {
                dns: targets,
                lvs: Vec::new(),
            }),
            dns: Arc::new(Table::new(verdicts)),
            lvs: Arc::new(lvs),
        }
    }

    #[test]
    fn records_dns_and_real_server_changes_with_their_source() {
        let up = v(Status::Up, Source::Probe);
        let key = VirtualKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1:80".parse().unwrap(),
        };
        let real: SocketAddr = "10.0.1.1:80".parse().unwrap();
        let mut lvs_old = RealTable::new();
        lvs_old.set(key, real, up);
        let mut lvs_new = RealTable::new();
        lvs_new.set(key, real, v(Status::Drain, Source::Override(Level::Addr)));
        let old = published(
            vec![target("hq", "192.0.2.1"), target("dr", "192.0.2.2")],
            vec![up, up],
            lvs_old,
        );
        let new = published(
            vec![target("hq", "192.0.2.1"), target("dr", "192.0.2.2")],
            vec![v(Status::Down, Source::Probe), up],
            lvs_new,
        );
        let got = diff(&old, &new, 7);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].target, "hq/default 192.0.2.1");
        assert_eq!(
            (got[0].from, got[0].to, got[0].why),
            (Status::Up, Status::Down, "probe")
        );
        assert_eq!(got[1].target, "TCP 10.0.0.1:80 → 10.0.1.1:80");
        assert_eq!((got[1].to, got[1].why), (Status::Drain, "address override"));
        assert_eq!(got[1].at_ms, 7);
    }

    #[test]
    fn matches_targets_by_identity_not_index() {
        let (up, down) = (v(Status::Up, Source::Probe), v(Status::Down, Source::Probe));
        let old = published(
            vec![target("hq", "192.0.2.1"), target("dr", "192.0.2.2")],
            vec![up, down],
            RealTable::new(),
        );
        // Reordered by a reload, one added: nothing changed state.
        let new = published(
            vec![
                target("dr", "192.0.2.2"),
                target("hq", "192.0.2.1"),
                target("ap", "192.0.2.3"),
            ],
            vec![down, up, down],
            RealTable::new(),
        );
        assert!(diff(&old, &new, 1).is_empty());
    }

    #[test]
    fn the_ring_keeps_the_newest_and_lists_them_first() {
        let t = vec![target("hq", "192.0.2.1")];
        let (up, down) = (v(Status::Up, Source::Probe), v(Status::Down, Source::Probe));
        let a = published(t.clone(), vec![up], RealTable::new());
        let b = published(t, vec![down], RealTable::new());
        let mut log = ChangeLog::default();
        for i in 0..(KEEP as u64 + 10) {
            let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
            log.extend(diff(from, to, i));
        }
        assert_eq!(log.len(), KEEP);
        let first = log.newest_first().next().unwrap();
        assert_eq!(first.at_ms, KEEP as u64 + 9);
        let json = log.json();
        assert_eq!(json[0]["at_ms"], KEEP as u64 + 9);
        assert_eq!(json[KEEP - 1]["at_ms"], 10);
        assert_eq!(json[0]["to"], "up");
    }
}
