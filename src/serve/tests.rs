//! The authority's tables as `serve` registers and applies them.

use std::path::Path;
use std::sync::Arc;

use super::snapshot::registry;
use crate::config::{OverrideState, OverrideTarget, Protocol, VirtualKey};
use crate::health::{HealthView, Overrides, Published, Status};
use crate::lvs::VipState;
use crate::policy::Compiled;

const CFG: &str = r#"
[server]
zones = "../zones"
[site.hq]
links = { default = ["203.0.113.10", "203.0.113.11"] }
[service.www]
name = "www.example.test"
sites = ["hq"]
[lvs]
[[lvs.service]]
vip = "203.0.113.10:80"
check = { type = "tcp", interval = "1s" }
[[lvs.service.real]]
addr = "10.0.0.2:80"
"#;

fn config() -> crate::config::Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/test.toml");
    crate::config::parse(CFG, &path).unwrap()
}

fn publish(
    cfg: &crate::config::Config,
    policy: &Compiled,
    probes: &HealthView,
    vips: &VipState,
) -> Published {
    Published::compute(1, Arc::new(registry(cfg, Some(policy))), probes, vips, None)
}

/// The DNS verdict of the (only) target at `ip`.
fn table_status(policy: &Compiled, p: &Published, ip: &str) -> Status {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    let t = policy.targets().iter().find(|t| t.addr == ip).unwrap();
    p.dns.get(t.id.index()).status
}

#[test]
fn a_vip_without_quorum_takes_its_address_out_of_dns() {
    let cfg = config();
    let policy = Compiled::new(&cfg).unwrap();
    let probes = HealthView::empty();
    let addr = |p: &Published, ip: &str| table_status(&policy, p, ip);
    let all_up = publish(&cfg, &policy, &probes, &VipState::default());
    assert_eq!(addr(&all_up, "203.0.113.10"), Status::Up);
    let mut vips = VipState::default();
    let key = VirtualKey::Addr {
        protocol: Protocol::Tcp,
        addr: "203.0.113.10:80".parse().unwrap(),
    };
    vips.services.insert(key, false);
    let v = publish(&cfg, &policy, &probes, &vips);
    assert_eq!(addr(&v, "203.0.113.10"), Status::Down);
    assert_eq!(
        addr(&v, "203.0.113.11"),
        Status::Up,
        "only the VIP's own address"
    );
    vips.services.insert(key, true);
    let v = publish(&cfg, &policy, &probes, &vips);
    assert_eq!(addr(&v, "203.0.113.10"), Status::Up);
}

#[test]
fn real_servers_not_yet_probed_count_as_up_for_the_director() {
    let cfg = config();
    let policy = Compiled::new(&cfg).unwrap();
    let p = publish(&cfg, &policy, &HealthView::empty(), &VipState::default());
    let lvs = cfg.lvs.as_ref().unwrap();
    let v = p
        .lvs
        .get(&lvs.services[0].key, &"10.0.0.2:80".parse().unwrap());
    assert!(v.serves());
}

#[test]
fn overrides_reach_the_director() {
    let cfg = config();
    let policy = Compiled::new(&cfg).unwrap();
    let lvs = cfg.lvs.as_ref().unwrap();
    let (vip, real) = (lvs.services[0].key, "10.0.0.2:80".parse().unwrap());
    let with = |target: OverrideTarget, state: OverrideState| {
        let mut o = Overrides::default();
        o.force(target, state);
        publish(
            &cfg,
            &policy,
            &HealthView::with_overrides(o),
            &VipState::default(),
        )
    };
    let ip = |s: &str| s.parse().unwrap();
    // On the real server itself.
    for (state, want) in [
        (OverrideState::Drain, Status::Drain),
        (OverrideState::Down, Status::Down),
        (OverrideState::Up, Status::Up),
    ] {
        let p = with(OverrideTarget::Addr(ip("10.0.0.2")), state);
        assert_eq!(p.lvs.get(&vip, &real).status, want);
    }
    // On the VIP's address: every real server of its services, and the DNS answer.
    let p = with(
        OverrideTarget::Addr(ip("203.0.113.10")),
        OverrideState::Drain,
    );
    assert_eq!(p.lvs.get(&vip, &real).status, Status::Drain);
    assert_eq!(table_status(&policy, &p, "203.0.113.10"), Status::Drain);
    // A site override is a DNS matter: the director is not touched.
    let p = with(OverrideTarget::Site("hq".into()), OverrideState::Down);
    assert_eq!(p.lvs.get(&vip, &real).status, Status::Up);
}
