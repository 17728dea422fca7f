//! The buckets with time as an argument: the rate, the depth, the slip, prefixes and
//! classes apart, the share of each thread, and a limited prefix surviving table churn.

use std::time::Duration;

use super::*;

fn settings(rate: u32, slip: u32, window_ms: u64) -> RrlSettings {
    RrlSettings {
        rate,
        slip,
        window: Duration::from_millis(window_ms),
        prefix_v4: 24,
        prefix_v6: 56,
        exempt: Vec::new().into(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// (sent, slipped, dropped) of `n` responses to `client` at `now`.
fn run(t: &mut Table, client: &str, class: Class, n: usize, now: u64, l: &Limit) -> [usize; 3] {
    let mut c = [0; 3];
    for _ in 0..n {
        match t.check(ip(client), class, now, l) {
            Decision::Send => c[0] += 1,
            Decision::Slip => c[1] += 1,
            Decision::Drop => c[2] += 1,
        }
    }
    c
}

#[test]
fn off_when_the_rate_is_zero() {
    assert_eq!(Limit::new(&settings(0, 2, 1000), 1), None);
}

#[test]
fn loopback_is_exempt_by_default() {
    let d = RrlSettings::default();
    for a in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
        assert!(d.exempts(ip(a)), "{a}");
    }
    for a in ["128.0.0.1", "192.0.2.1", "::2", "2001:db8::1"] {
        assert!(!d.exempts(ip(a)), "{a}");
    }
    assert!(!settings(1, 1, 1).exempts(ip("127.0.0.1")));
}

#[test]
fn a_flood_gets_the_rate_and_every_second_limited_reply_slips() {
    let l = Limit::new(&settings(10, 2, 1000), 1).unwrap();
    let mut t = Table::new([7; 16]);
    // A full bucket: 10 at once, then 90 limited, half of them truncated.
    assert_eq!(
        run(&mut t, "192.0.2.1", Class::Positive, 100, 0, &l),
        [10, 45, 45]
    );
    // 100 ms later: one more token.
    assert_eq!(
        run(&mut t, "192.0.2.9", Class::Positive, 3, 100, &l),
        [1, 1, 1]
    );
    // Half a second later: five; a second later the bucket is full again (and no fuller).
    assert_eq!(run(&mut t, "192.0.2.1", Class::Positive, 6, 600, &l)[0], 5);
    assert_eq!(
        run(&mut t, "192.0.2.1", Class::Positive, 20, 60_000, &l)[0],
        10
    );
}

#[test]
fn other_prefixes_and_classes_are_untouched() {
    let l = Limit::new(&settings(5, 0, 1000), 1).unwrap();
    let mut t = Table::new([1; 16]);
    assert_eq!(
        run(&mut t, "127.0.1.1", Class::Positive, 50, 0, &l),
        [5, 0, 45]
    );
    // slip = 0 drops every limited response.
    assert_eq!(
        run(&mut t, "127.0.1.200", Class::Positive, 1, 0, &l),
        [0, 0, 1]
    );
    assert_eq!(
        run(&mut t, "127.0.1.1", Class::Negative, 5, 0, &l),
        [5, 0, 0]
    );
    assert_eq!(run(&mut t, "127.0.1.1", Class::Error, 5, 0, &l), [5, 0, 0]);
    assert_eq!(
        run(&mut t, "127.0.2.1", Class::Positive, 5, 0, &l),
        [5, 0, 0]
    );
    // IPv6: one /56 is one client; the next /56 is another.
    assert_eq!(
        run(&mut t, "2001:db8:0:1::1", Class::Positive, 3, 0, &l),
        [3, 0, 0]
    );
    assert_eq!(
        run(&mut t, "2001:db8:0:ff::2", Class::Positive, 3, 0, &l),
        [2, 0, 1]
    );
    assert_eq!(
        run(&mut t, "2001:db8:0:100::1", Class::Positive, 5, 0, &l),
        [5, 0, 0]
    );
    // A v4-mapped address is its IPv4 prefix.
    assert_eq!(
        run(&mut t, "::ffff:127.0.2.9", Class::Positive, 1, 0, &l),
        [0, 0, 1]
    );
}

#[test]
fn each_thread_enforces_its_share_and_the_window_is_the_depth() {
    let l = Limit::new(&settings(100, 1, 1000), 4).unwrap();
    let mut t = Table::new([2; 16]);
    assert_eq!(
        run(&mut t, "198.51.100.1", Class::Positive, 30, 0, &l),
        [25, 5, 0]
    );
    let deep = Limit::new(&settings(10, 1, 3000), 1).unwrap();
    assert_eq!(
        run(&mut t, "198.51.100.1", Class::Error, 40, 0, &deep),
        [30, 10, 0]
    );
    // A window shorter than one response still lets one through.
    let thin = Limit::new(&settings(1, 1, 1), 1).unwrap();
    assert_eq!(
        run(&mut t, "203.0.113.1", Class::Error, 2, 0, &thin),
        [1, 1, 0]
    );
}

#[test]
fn a_limited_prefix_survives_churn_from_many_others() {
    let l = Limit::new(&settings(10, 0, 1000), 1).unwrap();
    let mut t = Table::new([3; 16]);
    assert_eq!(run(&mut t, "192.0.2.1", Class::Positive, 20, 0, &l)[0], 10);
    // 60 000 other /24s, once each, through a table of 8192 slots.
    for i in 0..60_000u32 {
        let a = IpAddr::from((0x0a00_0000 + (i << 8)).to_be_bytes());
        assert_eq!(t.check(a, Class::Positive, 10, &l), Decision::Send);
    }
    assert_eq!(
        run(&mut t, "192.0.2.1", Class::Positive, 5, 20, &l),
        [0, 0, 5]
    );
}
