//! `[anycast]`: defaults, typed values, and every refusal as file:line:col: key: message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{AnycastBackend, AnycastCondition, Config, parse};

fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/meridian.toml")
}

const HEAD: &str = r#"[server]
zones = "../zones"
[site.hq]
links = { default = ["203.0.113.12"] }
[lvs]
[[lvs.service]]
vip = "203.0.113.10:80"
"#;

fn ok(extra: &str) -> Config {
    parse(&format!("{HEAD}{extra}"), &path()).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(extra: &str) -> String {
    match parse(&format!("{HEAD}{extra}"), &path()) {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_bird_prefix_with_defaults() {
    let c = ok(r#"[anycast]
backend = "bird"
bird_socket = "/run/bird/bird.ctl"
[[anycast.prefix]]
prefix = "2001:db8:53::/48"
bird_protocol = "anycast_v6"
when = ["dns", "vip:203.0.113.10", "site:hq", "addr:203.0.113.12"]
"#);
    let a = c.anycast.unwrap();
    assert_eq!(
        a.backend,
        AnycastBackend::Bird {
            socket: "/run/bird/bird.ctl".into()
        }
    );
    assert_eq!(a.grace, Duration::from_secs(5));
    assert!(a.bfd.is_none());
    let p = &a.prefixes[0];
    assert_eq!((p.rise, p.fall, p.interval), (2, 2, Duration::from_secs(1)));
    assert_eq!(p.when[0], AnycastCondition::Dns);
    assert_eq!(p.when[2], AnycastCondition::Site("hq".into()));
    assert_eq!(
        p.when
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        "dns vip:203.0.113.10 site:hq addr:203.0.113.12"
    );
}

#[test]
fn exabgp_with_demotion_and_bfd_defaults() {
    let c = ok(r#"[anycast]
backend = "exabgp"
grace = "0s"
bfd_listen = "169.254.53.2"
[[anycast.prefix]]
prefix = "192.0.2.53/32"
when = ["dns"]
demote = { med = 200, as_path_prepend = [65001, 65001], community = ["65000:666"] }
"#);
    let a = c.anycast.unwrap();
    assert_eq!(a.grace, Duration::ZERO);
    let b = a.bfd.unwrap();
    assert_eq!((b.interval, b.multiplier), (Duration::from_millis(100), 3));
    let d = a.prefixes[0].demote.clone().unwrap();
    assert_eq!(d.med, Some(200));
    assert_eq!(d.as_path_prepend, vec![65001, 65001]);
    assert_eq!(a.prefixes[0].next_hop, "self");
}

#[test]
fn refusals_name_line_and_key() {
    let e = errors("[anycast]\nbackend = \"bird\"\n");
    assert!(
        e.contains(":9:11: anycast.bird_socket: backend = \"bird\" needs bird_socket"),
        "{e}"
    );
    let e = errors("[anycast]\nbackend = \"gobgp\"\n");
    assert!(
        e.contains("anycast.backend: `gobgp` is not one of bird, exabgp"),
        "{e}"
    );
    let e = errors(
        r#"[anycast]
backend = "bird"
bird_socket = "/x"
[[anycast.prefix]]
prefix = "192.0.2.53/24"
when = ["site:nowhere", "vip:192.0.2.1", "addr:192.0.2.2", "up"]
demote = { med = 5 }
"#,
    );
    for want in [
        "anycast.prefix[0].prefix: `192.0.2.53/24` has bits set",
        "anycast.prefix[0].bird_protocol: backend = \"bird\" needs the name",
        "anycast.prefix[0].when[0]: no [site.nowhere] is defined",
        "anycast.prefix[0].when[1]: no [[lvs.service]] has a VIP on 192.0.2.1",
        "anycast.prefix[0].when[2]: 192.0.2.2 is not an address of any site's links",
        "anycast.prefix[0].when[3]: `up` is not one of",
        "anycast.prefix[0].demote: with backend = \"bird\", demote needs bird_protocol",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
    let e = errors(
        "[anycast]\nbackend = \"exabgp\"\nbfd_multiplier = 3\n[[anycast.prefix]]\nprefix = \"192.0.2.53/32\"\nbird_protocol = \"x y\"\nwhen = []\ndemote = {}\n",
    );
    for want in [
        "anycast.bfd_multiplier: needs bfd_listen",
        "anycast.prefix[0].bird_protocol: `x y` is not a BIRD protocol name",
        "anycast.prefix[0].when: give at least one condition",
        "anycast.prefix[0].demote: give med, as_path_prepend or community",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
    let e = errors("[anycast]\nbackend = \"exabgp\"\nexabgp_watchdog = \"10ms\"\n");
    assert!(
        e.contains("anycast.exabgp_watchdog: must be between 100ms and 60s"),
        "{e}"
    );
    let e =
        errors("[anycast]\nbackend = \"bird\"\nbird_socket = \"/x\"\nexabgp_watchdog = \"1s\"\n");
    assert!(
        e.contains("anycast.exabgp_watchdog: only for backend = \"exabgp\""),
        "{e}"
    );
}
