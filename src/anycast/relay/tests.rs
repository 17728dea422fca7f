#![allow(clippy::disallowed_methods)] // a fixed origin for the relative times below

use super::*;

const A: &str = "announce route 192.0.2.53/32 next-hop self";
const AD: &str = "announce route 2001:db8:53::/48 next-hop self med 200 as-path [ 65001 ]";
const W: &str = "withdraw route 192.0.2.53/32 next-hop self";

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn exabgp(out: &[Out]) -> Vec<&str> {
    out.iter()
        .filter_map(|o| match o {
            Out::Exabgp(l) => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn withdrawals_keep_prefix_and_next_hop_and_drop_attributes() {
    assert_eq!(withdrawal_of(A).as_deref(), Some(W));
    assert_eq!(
        withdrawal_of(AD).as_deref(),
        Some("withdraw route 2001:db8:53::/48 next-hop self")
    );
    assert_eq!(withdrawal_of(W), None);
    assert_eq!(withdrawal_of("announce watchdog x"), None);
}

#[test]
fn acknowledgements_go_to_whoever_wrote_the_line_in_order() {
    let t0 = Instant::now();
    let mut r = Relay::new(Duration::from_secs(1), t0);
    assert_eq!(exabgp(&r.from_meridian(A, t0)), vec![A]);
    // Silence: the relay's own withdrawal goes out; its ack stays in the relay.
    let out = r.tick(at(t0, 1000));
    assert_eq!(exabgp(&out), vec![W]);
    // ExaBGP answers Meridian's announcement, then the relay's withdrawal.
    assert_eq!(r.from_exabgp("done"), vec![Out::Meridian("done".into())]);
    assert!(r.own_pending());
    assert_eq!(r.from_exabgp("done\n"), vec![]);
    assert!(!r.own_pending());
    // An answer to nothing (a previous process's line) is not passed on.
    assert!(matches!(r.from_exabgp("done").as_slice(), [Out::Log(_)]));
    // Notifications are not acknowledgements.
    assert!(matches!(
        r.from_exabgp("shutdown").as_slice(),
        [Out::Log(_)]
    ));
}

#[test]
fn the_watchdog_withdraws_once_and_meridian_restores_what_it_had() {
    let t0 = Instant::now();
    let mut r = Relay::new(Duration::from_millis(500), t0);
    r.from_meridian(A, t0);
    r.from_meridian(AD, t0);
    r.from_meridian(HEARTBEAT, at(t0, 400));
    assert!(exabgp(&r.tick(at(t0, 800))).is_empty(), "heard 400 ms ago");
    assert_eq!(r.deadline(), at(t0, 900));
    let out = r.tick(at(t0, 900));
    assert_eq!(
        exabgp(&out),
        vec![
            "withdraw route 192.0.2.53/32 next-hop self",
            "withdraw route 2001:db8:53::/48 next-hop self"
        ]
    );
    assert!(exabgp(&r.tick(at(t0, 1900))).is_empty(), "only once");
    // A heartbeat: both announcements again, exactly as Meridian made them.
    let out = r.from_meridian(HEARTBEAT, at(t0, 5000));
    assert_eq!(exabgp(&out), vec![A, AD]);
    // A withdrawal from Meridian while silent-withdrawn: restore first, then forward it.
    r.tick(at(t0, 6000));
    let out = r.from_meridian(W, at(t0, 7000));
    assert_eq!(exabgp(&out), vec![A, AD, W]);
    // Now only the IPv6 prefix is announced.
    let out = r.tick(at(t0, 8000));
    assert_eq!(
        exabgp(&out),
        vec!["withdraw route 2001:db8:53::/48 next-hop self"]
    );
}

#[test]
fn meridian_gone_withdraws_everything_once() {
    let t0 = Instant::now();
    let mut r = Relay::new(Duration::from_secs(1), t0);
    r.from_meridian(A, t0);
    assert_eq!(exabgp(&r.meridian_gone(at(t0, 10))), vec![W]);
    assert!(exabgp(&r.meridian_gone(at(t0, 20))).is_empty());
    // Already withdrawn by the watchdog: nothing more.
    let mut r = Relay::new(Duration::from_secs(1), t0);
    r.from_meridian(A, t0);
    assert_eq!(exabgp(&r.tick(at(t0, 1000))), vec![W]);
    assert!(exabgp(&r.meridian_gone(at(t0, 1100))).is_empty());
}

#[test]
fn a_lost_acknowledgement_expires() {
    let t0 = Instant::now();
    let mut r = Relay::new(Duration::from_secs(10), t0);
    r.from_meridian(A, t0);
    assert_eq!(r.deadline(), at(t0, 2000));
    assert!(matches!(r.tick(at(t0, 2000)).as_slice(), [Out::Log(_)]));
    assert!(matches!(r.from_exabgp("done").as_slice(), [Out::Log(_)]));
}
