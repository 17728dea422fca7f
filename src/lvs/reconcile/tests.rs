//! Tests of the reconciler's pure parts: which services a config change touches.

use super::*;

#[test]
fn config_changes_found_per_service() {
    use crate::lvs::desired::tests::{lvs, svc};
    let a = svc("10.0.0.1:80", &[("10.1.0.1:80", 5)]);
    let b = svc("10.0.0.2:80", &[("10.1.0.2:80", 5)]);
    let old = Arc::new(lvs(vec![a.clone(), b.clone()]));
    assert_eq!(changed_services(&old, &old), Some(BTreeSet::new()));
    let mut b2 = b.clone();
    b2.reals[0].weight = 6;
    let new = Arc::new(lvs(vec![a.clone(), b2]));
    assert_eq!(changed_services(&old, &new), Some([b.key].into()));
    // added, removed or reordered services need the full diff
    assert_eq!(
        changed_services(&old, &Arc::new(lvs(vec![a.clone()]))),
        None
    );
    assert_eq!(changed_services(&old, &Arc::new(lvs(vec![b, a]))), None);
}
