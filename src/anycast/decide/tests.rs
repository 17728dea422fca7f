use super::*;

fn params(start: Instant) -> Params {
    Params {
        rise: 2,
        fall: 3,
        demote: false,
        grace_until: start,
        drain: Duration::from_secs(4),
    }
}

fn ok() -> Inputs {
    Inputs::default()
}

fn bad() -> Inputs {
    Inputs {
        failing: vec!["dns: timeout".into()],
        ..Inputs::default()
    }
}

#[test]
fn announced_after_rise_passes_and_withdrawn_after_fall_failures() {
    let t = Instant::now();
    let mut d = Decider::new(params(t));
    assert_eq!(d.step(&ok(), t).route, Route::Withdraw);
    assert_eq!(d.step(&ok(), t).route, Route::Announce);
    assert_eq!(d.step(&bad(), t).route, Route::Announce);
    assert_eq!(d.step(&bad(), t).route, Route::Announce);
    let w = d.step(&bad(), t);
    assert_eq!(w.route, Route::Withdraw);
    assert_eq!(w.why, "dns: timeout");
}

#[test]
fn a_pass_resets_the_failure_count() {
    let t = Instant::now();
    let mut d = Decider::new(params(t));
    for _ in 0..2 {
        d.step(&ok(), t);
    }
    d.step(&bad(), t);
    d.step(&bad(), t);
    assert_eq!(d.step(&ok(), t).route, Route::Announce);
    d.step(&bad(), t);
    d.step(&bad(), t);
    assert_eq!(d.step(&ok(), t).route, Route::Announce);
}

#[test]
fn demoted_while_failing_below_fall() {
    let t = Instant::now();
    let mut d = Decider::new(Params {
        demote: true,
        ..params(t)
    });
    d.step(&ok(), t);
    d.step(&ok(), t);
    let x = d.step(&bad(), t);
    assert_eq!(x.route, Route::Demote);
    assert!(x.why.contains("failing 1/3"), "{}", x.why);
    assert_eq!(d.step(&bad(), t).route, Route::Demote);
    assert_eq!(d.step(&bad(), t).route, Route::Withdraw);
    assert_eq!(d.step(&ok(), t).route, Route::Withdraw);
    assert!(d.step(&ok(), t).route == Route::Announce);
}

#[test]
fn grace_period_holds_the_announcement_back() {
    let t = Instant::now();
    let mut d = Decider::new(Params {
        grace_until: t + Duration::from_secs(5),
        ..params(t)
    });
    d.step(&ok(), t);
    let x = d.step(&ok(), t + Duration::from_secs(1));
    assert_eq!(x.route, Route::Withdraw);
    assert!(x.why.contains("grace"), "{}", x.why);
    assert!(d.healthy());
    assert_eq!(
        d.step(&ok(), t + Duration::from_secs(5)).route,
        Route::Announce
    );
}

#[test]
fn maintenance_file_withdraws_at_once_and_its_removal_restores() {
    let t = Instant::now();
    let mut d = Decider::new(params(t));
    d.step(&ok(), t);
    d.step(&ok(), t);
    let off = Inputs {
        disabled: Some("/x".into()),
        ..ok()
    };
    let x = d.step(&off, t);
    assert_eq!(x.route, Route::Withdraw);
    assert!(x.why.contains("maintenance file /x"));
    assert_eq!(d.step(&ok(), t).route, Route::Announce);
}

#[test]
fn stopping_demotes_for_half_the_drain_then_withdraws() {
    let t = Instant::now();
    let mut d = Decider::new(Params {
        demote: true,
        ..params(t)
    });
    d.step(&ok(), t);
    d.step(&ok(), t);
    let stop = Inputs {
        stopping_since: Some(t),
        ..ok()
    };
    assert_eq!(
        d.step(&stop, t + Duration::from_secs(1)).route,
        Route::Demote
    );
    assert_eq!(
        d.step(&stop, t + Duration::from_secs(2)).route,
        Route::Withdraw
    );
    let mut plain = Decider::new(params(t));
    plain.step(&ok(), t);
    plain.step(&ok(), t);
    assert_eq!(plain.step(&stop, t).route, Route::Withdraw);
}

#[test]
fn recovery_is_explained() {
    let t = Instant::now();
    let mut d = Decider::new(Params {
        rise: 3,
        ..params(t)
    });
    let x = d.step(&ok(), t);
    assert_eq!(x.route, Route::Withdraw);
    assert_eq!(x.why, "recovering: 1/3 passing evaluations");
}
