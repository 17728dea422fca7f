//! Overrides from every node merged into the ones in force. Pure; the time is an argument.
//!
//! Per target, the newest entry wins: the greatest `set_at_ms` (the setter's clock), ties going
//! to the greater node name so that every node picks the same one. The winner is in force unless
//! it is a clear or has expired; an older entry never comes back when a newer one expires (the
//! newest command about a target replaces the ones before it, wherever they were given).

use std::collections::BTreeMap;

use super::report::OverrideEntry;
use crate::config::OverrideState;

/// An override in force on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveOverride {
    pub state: OverrideState,
    /// The node where it was set.
    pub node: String,
    pub author: String,
    pub reason: String,
    pub set_at_ms: u64,
    pub expires_ms: Option<u64>,
}

/// Merge `(node, target, entry)` triples into the overrides in force at `now_ms`, by target.
pub fn merge<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str, &'a OverrideEntry)>,
    now_ms: u64,
) -> BTreeMap<String, EffectiveOverride> {
    let mut newest: BTreeMap<&str, (&str, &OverrideEntry)> = BTreeMap::new();
    for (node, target, entry) in entries {
        // A republished command keeps the node it was given on.
        let node = if entry.origin.is_empty() {
            node
        } else {
            entry.origin.as_str()
        };
        let newer = newest
            .get(target)
            .is_none_or(|(n, e)| (entry.set_at_ms, node) > (e.set_at_ms, *n));
        if newer {
            newest.insert(target, (node, entry));
        }
    }
    newest
        .into_iter()
        .filter_map(|(target, (node, e))| {
            let state = e.state?;
            if e.expires_ms.is_some_and(|x| x <= now_ms) {
                return None;
            }
            Some((
                target.to_string(),
                EffectiveOverride {
                    state,
                    node: node.to_string(),
                    author: e.author.clone(),
                    reason: e.reason.clone(),
                    set_at_ms: e.set_at_ms,
                    expires_ms: e.expires_ms,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        state: Option<OverrideState>,
        set_at_ms: u64,
        expires_ms: Option<u64>,
    ) -> OverrideEntry {
        OverrideEntry {
            origin: String::new(),
            state,
            author: "ops".into(),
            reason: "test".into(),
            set_at_ms,
            expires_ms,
        }
    }

    fn winner(
        entries: &[(&str, &str, OverrideEntry)],
        now: u64,
        target: &str,
    ) -> Option<(OverrideState, String)> {
        let m = merge(entries.iter().map(|(n, t, e)| (*n, *t, e)), now);
        m.get(target).map(|e| (e.state, e.node.clone()))
    }

    use OverrideState::{Down, Drain, Up};

    #[test]
    fn the_newest_entry_per_target_wins_whatever_the_order() {
        let mut entries = vec![
            ("a", "site:hq", entry(Some(Down), 10, None)),
            ("b", "site:hq", entry(Some(Drain), 20, None)),
            ("c", "site:hq", entry(Some(Up), 15, None)),
            ("a", "site:dr", entry(Some(Down), 5, None)),
        ];
        for _ in 0..entries.len() {
            assert_eq!(winner(&entries, 0, "site:hq"), Some((Drain, "b".into())));
            assert_eq!(winner(&entries, 0, "site:dr"), Some((Down, "a".into())));
            entries.rotate_left(1);
        }
    }

    #[test]
    fn ties_go_to_the_greater_node_name() {
        let entries = [
            ("hq-ns1", "addr:192.0.2.1", entry(Some(Down), 7, None)),
            ("dr-ns1", "addr:192.0.2.1", entry(Some(Up), 7, None)),
        ];
        assert_eq!(
            winner(&entries, 0, "addr:192.0.2.1"),
            Some((Down, "hq-ns1".into()))
        );
        let reversed = [entries[1].clone(), entries[0].clone()];
        assert_eq!(
            winner(&reversed, 0, "addr:192.0.2.1"),
            Some((Down, "hq-ns1".into()))
        );
    }

    #[test]
    fn a_newer_clear_removes_an_older_set_elsewhere() {
        let entries = [
            ("a", "site:hq", entry(Some(Down), 10, None)),
            ("b", "site:hq", entry(None, 11, None)),
        ];
        assert_eq!(winner(&entries, 0, "site:hq"), None);
        let older_clear = [
            ("a", "site:hq", entry(Some(Down), 10, None)),
            ("b", "site:hq", entry(None, 9, None)),
        ];
        assert_eq!(winner(&older_clear, 0, "site:hq"), Some((Down, "a".into())));
    }

    #[test]
    fn expired_entries_are_dropped_and_do_not_revive_older_ones() {
        let entries = [
            ("a", "site:hq", entry(Some(Down), 10, None)),
            ("b", "site:hq", entry(Some(Drain), 20, Some(100))),
        ];
        assert_eq!(winner(&entries, 99, "site:hq"), Some((Drain, "b".into())));
        assert_eq!(
            winner(&entries, 100, "site:hq"),
            None,
            "expiry is exclusive"
        );
        let m = merge(entries.iter().map(|(n, t, e)| (*n, *t, e)), 1000);
        assert!(m.is_empty(), "{m:?}");
    }
}
