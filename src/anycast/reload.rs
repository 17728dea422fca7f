//! What a reload changes in `[anycast]`, pure: which running prefixes must be withdrawn
//! (removed from the file, or announced differently: another BIRD protocol, next hop or
//! demotion), and which running prefix each new one continues (same prefix: its rise/fall
//! state carries over, so an unchanged prefix does not flap). A new prefix starts withdrawn
//! and follows its conditions (`rise` passes before it is announced).
//!
//! The backend and the BFD responder are not changed by a reload (serve::restart names them).

use crate::config::AnycastPrefix;

/// The reload's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Old indices to withdraw with their old configuration, before anything else.
    pub withdraw: Vec<usize>,
    /// For each new prefix, the old index it continues (None: a new prefix).
    pub carry: Vec<Option<usize>>,
}

impl Plan {
    /// Whether the new list changes anything at all.
    pub fn is_noop(&self, old_len: usize) -> bool {
        self.withdraw.is_empty()
            && self.carry.len() == old_len
            && self.carry.iter().enumerate().all(|(i, c)| *c == Some(i))
    }
}

/// Whether the speaker carries `a` and `b` the same way (the rest only feeds the decision).
fn same_route(a: &AnycastPrefix, b: &AnycastPrefix) -> bool {
    a.bird_protocol == b.bird_protocol && a.next_hop == b.next_hop && a.demote == b.demote
}

pub fn plan(old: &[AnycastPrefix], new: &[AnycastPrefix]) -> Plan {
    let mut withdraw = Vec::new();
    for (i, o) in old.iter().enumerate() {
        let kept = new.iter().any(|n| n.prefix == o.prefix && same_route(o, n));
        if !kept {
            withdraw.push(i);
        }
    }
    let carry = new
        .iter()
        .map(|n| old.iter().position(|o| o.prefix == n.prefix))
        .collect();
    Plan { withdraw, carry }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{AnycastCondition, Demote};

    fn p(prefix: &str) -> AnycastPrefix {
        AnycastPrefix {
            prefix: prefix.parse().unwrap(),
            bird_protocol: Some(format!("p{}", prefix.len())),
            when: vec![AnycastCondition::Dns],
            rise: 2,
            fall: 2,
            interval: Duration::from_secs(1),
            demote: None,
            disable_file: None,
            next_hop: "self".into(),
        }
    }

    #[test]
    fn unchanged_prefixes_carry_over_and_nothing_is_withdrawn() {
        let old = vec![p("192.0.2.53/32"), p("2001:db8:53::/48")];
        let plan = plan(&old, &old);
        assert!(plan.is_noop(2));
        // Reordered: still carried over by prefix.
        let new = vec![old[1].clone(), old[0].clone()];
        let pl = super::plan(&old, &new);
        assert_eq!(pl.carry, vec![Some(1), Some(0)]);
        assert!(pl.withdraw.is_empty());
        assert!(!pl.is_noop(2));
    }

    #[test]
    fn removed_or_re_routed_prefixes_are_withdrawn_new_ones_start_fresh() {
        let old = vec![p("192.0.2.53/32"), p("192.0.2.54/32"), p("192.0.2.55/32")];
        let mut changed_when = old[0].clone();
        changed_when.when = vec![AnycastCondition::Site("hq".into())];
        changed_when.fall = 5;
        let mut re_routed = old[2].clone();
        re_routed.demote = Some(Demote {
            med: Some(200),
            ..Demote::default()
        });
        let new = vec![changed_when, re_routed, p("198.51.100.53/32")];
        let pl = plan(&old, &new);
        // .54 is gone, .55 is announced differently: both withdrawn with the old settings.
        assert_eq!(pl.withdraw, vec![1, 2]);
        // A condition or threshold change keeps the prefix's state; .55 keeps its state
        // too (re-applied after the withdrawal); 198.51.100.53 is new.
        assert_eq!(pl.carry, vec![Some(0), Some(2), None]);
    }
}
