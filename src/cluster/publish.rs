//! Which of this node's own key/values to write into chitchat, and when. Pure: the caller
//! passes the time and applies the returned operations.
//!
//! A new item, or an urgent change (anything but a VIP's load figures; a VIP becoming full or
//! not full is urgent), goes out at once.
//! Observations and VIP reports are republished (with a new confirmation time, hence a new
//! version) once per `refresh` while the caller keeps confirming them; that is how peers tell a
//! live observation from a stale one. Items the caller removed are deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::report::Item;

/// One change to this node's chitchat state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Set(String, String),
    Delete(String),
}

struct Published {
    item: Item,
    at: Instant,
}

pub(crate) struct Publisher {
    refresh: Duration,
    published: BTreeMap<String, Published>,
}

impl Publisher {
    pub(crate) fn new(refresh: Duration) -> Publisher {
        Publisher {
            refresh,
            published: BTreeMap::new(),
        }
    }

    /// The operations that bring chitchat to `desired`. `confirmed` says when the caller last
    /// confirmed each item (by key); `now_ms` stamps what is written.
    pub(crate) fn plan(
        &mut self,
        desired: &[Item],
        confirmed: &BTreeMap<String, Instant>,
        now: Instant,
        now_ms: u64,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        let mut keep = std::collections::BTreeSet::new();
        for item in desired {
            let key = item.key();
            let due = match self.published.get(&key) {
                None => true,
                Some(p) if p.item.urgent_change(item) => true,
                Some(p) => {
                    let reconfirmed = confirmed.get(&key).is_some_and(|c| *c > p.at);
                    item.refreshable()
                        && now.saturating_duration_since(p.at) >= self.refresh
                        && (reconfirmed || p.item != *item)
                }
            };
            if due {
                ops.push(Op::Set(key.clone(), item.value(now_ms)));
                self.published.insert(
                    key.clone(),
                    Published {
                        item: item.clone(),
                        at: now,
                    },
                );
            }
            keep.insert(key);
        }
        let gone: Vec<String> = self
            .published
            .keys()
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.published.remove(&key);
            ops.push(Op::Delete(key));
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::report::{Observation, ProbeState, Role, VipStatus};

    fn obs(state: ProbeState) -> Item {
        Item::Obs(
            "tcp 192.0.2.1:80".into(),
            Observation {
                state,
                since_ms: 1,
                reason: String::new(),
            },
        )
    }

    fn keys(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .map(|o| match o {
                Op::Set(k, _) => format!("set {k}"),
                Op::Delete(k) => format!("delete {k}"),
            })
            .collect()
    }

    #[test]
    fn new_and_changed_items_go_out_at_once_unchanged_ones_never() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5));
        let none = BTreeMap::new();
        let desired = vec![Item::Role(Role::Dns), obs(ProbeState::Up)];
        assert_eq!(
            keys(&p.plan(&desired, &none, t0, 1)),
            ["set m1/role", "set m1/obs/tcp 192.0.2.1:80"]
        );
        assert!(
            p.plan(&desired, &none, t0 + Duration::from_secs(60), 2)
                .is_empty()
        );
        let changed = vec![Item::Role(Role::Dns), obs(ProbeState::Down)];
        let ops = p.plan(&changed, &none, t0 + Duration::from_millis(61_000), 3);
        assert_eq!(keys(&ops), ["set m1/obs/tcp 192.0.2.1:80"]);
        assert!(
            matches!(&ops[0], Op::Set(_, v) if v.contains("\"down\"") && v.contains("\"at\":3"))
        );
    }

    #[test]
    fn confirmed_observations_are_refreshed_once_per_period() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5));
        let desired = vec![obs(ProbeState::Up)];
        let key = desired[0].key();
        let mut confirmed = BTreeMap::new();
        p.plan(&desired, &confirmed, t0, 0);
        confirmed.insert(key.clone(), t0 + Duration::from_secs(1));
        assert!(
            p.plan(&desired, &confirmed, t0 + Duration::from_secs(4), 0)
                .is_empty(),
            "too soon"
        );
        assert_eq!(
            p.plan(&desired, &confirmed, t0 + Duration::from_secs(5), 0)
                .len(),
            1
        );
        // Not confirmed since: no refresh, so peers will see it go stale.
        assert!(
            p.plan(&desired, &confirmed, t0 + Duration::from_secs(30), 0)
                .is_empty()
        );
    }

    #[test]
    fn vip_load_changes_wait_for_the_refresh_quorum_changes_do_not() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5));
        let vip_full = |quorum, conns, full| {
            vec![Item::Vip(
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
            )]
        };
        let vip = |quorum, conns| vip_full(quorum, conns, false);
        let none = BTreeMap::new();
        p.plan(&vip(ProbeState::Up, 1), &none, t0, 0);
        assert!(
            p.plan(
                &vip(ProbeState::Up, 2),
                &none,
                t0 + Duration::from_secs(1),
                0
            )
            .is_empty()
        );
        assert_eq!(
            p.plan(
                &vip(ProbeState::Up, 2),
                &none,
                t0 + Duration::from_secs(5),
                0
            )
            .len(),
            1
        );
        assert_eq!(
            p.plan(
                &vip(ProbeState::Down, 2),
                &none,
                t0 + Duration::from_secs(6),
                0
            )
            .len(),
            1
        );
        // Capacity-aware spill: becoming full goes out at once, like a quorum change.
        assert_eq!(
            p.plan(
                &vip_full(ProbeState::Down, 3, true),
                &none,
                t0 + Duration::from_secs(7),
                0
            )
            .len(),
            1
        );
    }

    #[test]
    fn removed_items_are_deleted_once() {
        let t0 = Instant::now();
        let mut p = Publisher::new(Duration::from_secs(5));
        let none = BTreeMap::new();
        p.plan(&[Item::Role(Role::Dns), obs(ProbeState::Up)], &none, t0, 0);
        let ops = p.plan(&[Item::Role(Role::Dns)], &none, t0, 0);
        assert_eq!(keys(&ops), ["delete m1/obs/tcp 192.0.2.1:80"]);
        assert!(p.plan(&[Item::Role(Role::Dns)], &none, t0, 0).is_empty());
    }
}
