//! Which of this node's own key/values to write into chitchat, and when. Pure: the caller
//! passes the time, the report, the keys that changed since the last plan and when it last
//! confirmed each observation and VIP report, and applies the returned operations.
//!
//! A new item, or an urgent change (anything but a VIP's load figures;
//! a VIP becoming full or not full is urgent), goes out at once; only
//! the changed keys are looked at, so a probe result costs O(1). Once per `refresh` a sweep:
//! - `m1/fresh` is republished when some observation was confirmed since its last version:
//!   peers date every observation of this node by it, so a steady state gossips one key per
//!   refresh instead of every observation;
//! - an observation not confirmed for `expire` (the vantage rule's `stale_after`) is deleted,
//!   so peers stop counting it, and republished if the caller confirms it again;
//! - VIP reports are republished (with a new confirmation time, hence a new version) while
//!   the caller keeps confirming them, carrying their latest load figures.
//!
//! Items the caller removed are deleted.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::report::{self, Item, Report};

/// One change to this node's chitchat state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Set(String, String),
    Delete(String),
}

/// What changed in the report since the last plan.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Changed<'a> {
    /// Anything may have: compare every item.
    All,
    /// Only these chitchat keys.
    Keys(&'a BTreeSet<String>),
}

struct Published {
    item: Item,
    at: Instant,
}

pub(crate) struct Publisher {
    refresh: Duration,
    expire: Duration,
    published: HashMap<String, Published>,
    /// When `m1/fresh` was last set.
    fresh_at: Option<Instant>,
    /// When the last sweep ran.
    swept: Option<Instant>,
}

/// Whether a confirmed item counts as current: observations expire, nothing else does.
fn live(item: &Item, confirmed: Option<&Instant>, now: Instant, expire: Duration) -> bool {
    match item {
        Item::Obs(..) => confirmed.is_some_and(|c| now.saturating_duration_since(*c) < expire),
        _ => true,
    }
}

impl Publisher {
    pub(crate) fn new(refresh: Duration, expire: Duration) -> Publisher {
        Publisher {
            refresh,
            expire,
            published: HashMap::new(),
            fresh_at: None,
            swept: None,
        }
    }

    /// The operations that bring chitchat to `report`. `confirmed` says when the caller last
    /// confirmed each observation and VIP report (by key); `now_ms` stamps what is written.
    pub(crate) fn plan(
        &mut self,
        report: &Report,
        changed: Changed<'_>,
        confirmed: &HashMap<String, Instant>,
        now: Instant,
        now_ms: u64,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        match changed {
            Changed::All => {
                let items = report::items(report);
                let keep: BTreeSet<String> = items.iter().map(Item::key).collect();
                for item in items {
                    let key = item.key();
                    let ok = live(&item, confirmed.get(&key), now, self.expire);
                    self.converge(key, ok.then_some(item), now, now_ms, &mut ops);
                }
                let gone: Vec<String> = self
                    .published
                    .keys()
                    .filter(|k| !keep.contains(*k))
                    .cloned()
                    .collect();
                for key in gone {
                    self.converge(key, None, now, now_ms, &mut ops);
                }
            }
            Changed::Keys(keys) => {
                for key in keys {
                    let item = report::item_for(report, key)
                        .filter(|i| live(i, confirmed.get(key), now, self.expire));
                    self.converge(key.clone(), item, now, now_ms, &mut ops);
                }
            }
        }
        let due = self
            .swept
            .is_none_or(|t| now.saturating_duration_since(t) >= self.refresh);
        if due {
            self.sweep(report, confirmed, now, now_ms, &mut ops);
        }
        ops
    }

    /// Publish `item` under `key` if it is new or changed urgently; delete the key when `item`
    /// is None and it was published.
    fn converge(
        &mut self,
        key: String,
        item: Option<Item>,
        now: Instant,
        now_ms: u64,
        ops: &mut Vec<Op>,
    ) {
        match item {
            None => {
                if self.published.remove(&key).is_some() {
                    ops.push(Op::Delete(key));
                }
            }
            Some(item) => {
                let due = self
                    .published
                    .get(&key)
                    .is_none_or(|p| p.item.urgent_change(&item));
                if due {
                    ops.push(Op::Set(key.clone(), item.value(now_ms)));
                    self.published.insert(key, Published { item, at: now });
                }
            }
        }
    }

    /// The periodic part: fresh, expiry of observations, VIP refreshes.
    fn sweep(
        &mut self,
        report: &Report,
        confirmed: &HashMap<String, Instant>,
        now: Instant,
        now_ms: u64,
        ops: &mut Vec<Op>,
    ) {
        self.swept = Some(now);
        let mut confirmed_since_fresh = false;
        for (target, obs) in &report.observations {
            let key = report::obs_key(target);
            let c = confirmed.get(&key);
            confirmed_since_fresh |= c.is_some_and(|c| self.fresh_at.is_none_or(|f| *c > f));
            let item = Item::Obs(target.clone(), obs.clone());
            let ok = live(&item, c, now, self.expire);
            self.converge(key, ok.then_some(item), now, now_ms, ops);
        }
        if confirmed_since_fresh {
            ops.push(Op::Set(Item::Fresh.key(), Item::Fresh.value(now_ms)));
            self.fresh_at = Some(now);
        }
        for (vip, status) in &report.vips {
            let key = report::vip_key(vip);
            let item = Item::Vip(vip.clone(), status.clone());
            let refresh = match self.published.get(&key) {
                None => true,
                Some(p) => {
                    let reconfirmed = confirmed.get(&key).is_some_and(|c| *c > p.at);
                    now.saturating_duration_since(p.at) >= self.refresh
                        && (reconfirmed || p.item != item)
                }
            };
            if refresh {
                ops.push(Op::Set(key.clone(), item.value(now_ms)));
                self.published.insert(key, Published { item, at: now });
            }
        }
    }

    /// Whether `key` names an observation this publisher has out (for tests and logs).
    #[cfg(test)]
    fn has(&self, key: &str) -> bool {
        matches!(report::key_kind(key), Some(report::KeyKind::Obs(_)))
            && self.published.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::report::{Observation, ProbeState, Role, VipStatus};

    const T: &str = "tcp 192.0.2.1:80";

    fn obs(state: ProbeState) -> Observation {
        Observation {
            state,
            since_ms: 1,
            reason: String::new(),
        }
    }

    fn report(state: Option<ProbeState>) -> Report {
        let mut r = Report::new("d", Role::Dns);
        if let Some(s) = state {
            r.observations.insert(T.into(), obs(s));
        }
        r
    }

    fn keys(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .map(|o| match o {
                Op::Set(k, _) => format!("set {k}"),
                Op::Delete(k) => format!("delete {k}"),
            })
            .collect()
    }

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    fn changed(k: &str) -> BTreeSet<String> {
        BTreeSet::from([k.to_string()])
    }

    #[test]
    fn new_and_changed_items_go_out_at_once_unchanged_ones_never() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5), Duration::from_secs(15));
        let key = report::obs_key(T);
        let mut conf = HashMap::from([(key.clone(), t0)]);
        let r = report(Some(ProbeState::Up));
        assert_eq!(
            keys(&p.plan(&r, Changed::All, &conf, t0, 1)),
            [
                "set m1/digest",
                "set m1/role",
                "set m1/obs/tcp 192.0.2.1:80",
                "set m1/fresh"
            ]
        );
        // Confirmed but unchanged: nothing but the one fresh key per refresh.
        conf.insert(key.clone(), secs(t0, 6));
        let ops = p.plan(&r, Changed::Keys(&changed(&key)), &conf, secs(t0, 6), 2);
        assert_eq!(keys(&ops), ["set m1/fresh"]);
        assert!(matches!(&ops[0], Op::Set(_, v) if v == "2"));
        assert!(
            p.plan(&r, Changed::Keys(&BTreeSet::new()), &conf, secs(t0, 7), 3)
                .is_empty()
        );
        let down = report(Some(ProbeState::Down));
        conf.insert(key.clone(), secs(t0, 8));
        let ops = p.plan(&down, Changed::Keys(&changed(&key)), &conf, secs(t0, 8), 4);
        assert_eq!(keys(&ops), ["set m1/obs/tcp 192.0.2.1:80"]);
        assert!(
            matches!(&ops[0], Op::Set(_, v) if v.contains("\"down\"") && v.contains("\"at\":4"))
        );
    }

    #[test]
    fn fresh_needs_a_confirmation_and_unconfirmed_observations_expire() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5), Duration::from_secs(15));
        let key = report::obs_key(T);
        let mut conf = HashMap::from([(key.clone(), t0)]);
        let r = report(Some(ProbeState::Up));
        let none = BTreeSet::new();
        p.plan(&r, Changed::All, &conf, t0, 0);
        assert!(p.has(&key));
        // No confirmation since the last fresh: no fresh, so peers see the node's
        // observations age (a hung prober).
        assert!(
            p.plan(&r, Changed::Keys(&none), &conf, secs(t0, 5), 0)
                .is_empty()
        );
        assert!(
            p.plan(&r, Changed::Keys(&none), &conf, secs(t0, 10), 0)
                .is_empty()
        );
        let ops = p.plan(&r, Changed::Keys(&none), &conf, secs(t0, 15), 0);
        assert_eq!(keys(&ops), ["delete m1/obs/tcp 192.0.2.1:80"]);
        assert!(!p.has(&key));
        // Confirmed again: back, with a fresh.
        conf.insert(key.clone(), secs(t0, 19));
        let ops = p.plan(&r, Changed::Keys(&changed(&key)), &conf, secs(t0, 19), 0);
        assert_eq!(keys(&ops), ["set m1/obs/tcp 192.0.2.1:80"]);
        let ops = p.plan(&r, Changed::Keys(&none), &conf, secs(t0, 20), 0);
        assert_eq!(keys(&ops), ["set m1/fresh"]);
    }

    #[test]
    fn vip_load_changes_wait_for_the_refresh_quorum_changes_do_not() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5), Duration::from_secs(15));
        let vip_full = |quorum, conns, full| {
            let mut r = report(None);
            r.vips.insert(
                "tcp 203.0.113.10:80".into(),
                VipStatus {
                    quorum,
                    healthy_weight: 1,
                    total_weight: 1,
                    active_conns: conns,
                    conn_rate: 0,
                    capacity: 0,
                    full,
                },
            );
            r
        };
        let vip = |quorum, conns| vip_full(quorum, conns, false);
        let key = report::vip_key("tcp 203.0.113.10:80");
        let k = changed(&key);
        let conf = HashMap::new();
        p.plan(&vip(ProbeState::Up, 1), Changed::All, &conf, t0, 0);
        assert!(
            p.plan(
                &vip(ProbeState::Up, 2),
                Changed::Keys(&k),
                &conf,
                secs(t0, 1),
                0
            )
            .is_empty()
        );
        assert_eq!(
            keys(&p.plan(
                &vip(ProbeState::Up, 2),
                Changed::Keys(&k),
                &conf,
                secs(t0, 5),
                0
            )),
            ["set m1/vip/tcp 203.0.113.10:80"]
        );
        assert_eq!(
            p.plan(
                &vip(ProbeState::Down, 2),
                Changed::Keys(&k),
                &conf,
                secs(t0, 6),
                0
            )
            .len(),
            1
        );
        // Capacity-aware spill: becoming full goes out at once, like a quorum change.
        assert_eq!(
            p.plan(
                &vip_full(ProbeState::Down, 3, true),
                Changed::Keys(&k),
                &conf,
                secs(t0, 7),
                0
            )
            .len(),
            1
        );
    }

    #[test]
    fn removed_items_are_deleted_once() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5), Duration::from_secs(15));
        let key = report::obs_key(T);
        let conf = HashMap::from([(key.clone(), t0)]);
        p.plan(&report(Some(ProbeState::Up)), Changed::All, &conf, t0, 0);
        let ops = p.plan(&report(None), Changed::Keys(&changed(&key)), &conf, t0, 0);
        assert_eq!(keys(&ops), ["delete m1/obs/tcp 192.0.2.1:80"]);
        assert!(p.plan(&report(None), Changed::All, &conf, t0, 0).is_empty());
    }

    #[test]
    fn a_thousand_unchanged_results_cost_nothing_between_sweeps() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5), Duration::from_secs(15));
        let mut r = report(None);
        let mut conf = HashMap::new();
        for i in 0..1000 {
            let t = format!("tcp 192.0.2.{}:{}", i % 250, 80 + i / 250);
            conf.insert(report::obs_key(&t), t0);
            r.observations.insert(t, obs(ProbeState::Up));
        }
        assert_eq!(p.plan(&r, Changed::All, &conf, t0, 0).len(), 1003);
        for c in conf.values_mut() {
            *c = secs(t0, 1);
        }
        let none = BTreeSet::new();
        assert!(
            p.plan(&r, Changed::Keys(&none), &conf, secs(t0, 1), 0)
                .is_empty()
        );
        assert_eq!(
            keys(&p.plan(&r, Changed::Keys(&none), &conf, secs(t0, 5), 0)),
            ["set m1/fresh"]
        );
    }
}
