//! The projections between the prober, the director and the DNS policy.

use std::path::Path;

use super::snapshot::{lvs_view, policy_view};
use crate::config::{Protocol, VirtualKey};
use crate::health::Status;
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

#[test]
fn a_vip_without_quorum_takes_its_address_out_of_dns() {
    let cfg = config();
    let policy = Compiled::new(&cfg).unwrap();
    let probes = crate::health::HealthView::empty();
    let addr = |v: &crate::health::Table, ip: &str| {
        let t = policy.targets_of(ip.parse().unwrap()).next().unwrap();
        v.get(t.id.index()).status
    };
    let all_up = policy_view(&policy, &probes, &VipState::default());
    assert_eq!(addr(&all_up, "203.0.113.10"), Status::Up);
    let mut vips = VipState::default();
    let key = VirtualKey::Addr {
        protocol: Protocol::Tcp,
        addr: "203.0.113.10:80".parse().unwrap(),
    };
    vips.services.insert(key, false);
    let v = policy_view(&policy, &probes, &vips);
    assert_eq!(addr(&v, "203.0.113.10"), Status::Down);
    assert_eq!(
        addr(&v, "203.0.113.11"),
        Status::Up,
        "only the VIP's own address"
    );
    vips.services.insert(key, true);
    assert_eq!(
        addr(&policy_view(&policy, &probes, &vips), "203.0.113.10"),
        Status::Up
    );
}

#[test]
fn real_servers_not_yet_probed_count_as_up_for_the_director() {
    let cfg = config();
    let lvs = cfg.lvs.as_ref().unwrap();
    let v = lvs_view(lvs, &crate::health::HealthView::empty());
    assert!(v.is_up(&lvs.services[0].key, &"10.0.0.2:80".parse().unwrap()));
}
