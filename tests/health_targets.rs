//! Building the probe set from a validated [`Config`] (parsed from TOML with the real
//! `config::parse`): which (address, check) pairs get probed, deduplicated across services,
//! with ports resolved.

use std::net::SocketAddr;
use std::path::Path;

use meridian::config::{self, CheckKind, Config};
use meridian::health::{ProbeKey, TargetSet};

const BASE: &str = r#"
[server]
listen = ["127.0.0.1:5353"]
zones = "../zones"

[isp.telecom]
cidrs = ["198.51.100.0/25"]

[site.hq]
links = { telecom = ["192.0.2.10"], default = ["192.0.2.10", "2001:db8::10"] }

[site.dr]
links = { default = ["192.0.2.20"] }

[site.spare]
links = { default = ["192.0.2.30"] }
"#;

fn parse(extra: &str) -> Config {
    let text = format!("{BASE}{extra}");
    // Parsed as if it sat in examples/, so that `../zones` is the project's zone folder.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/health-test.toml");
    config::parse(&text, &path).unwrap_or_else(|e| panic!("config: {e}"))
}

fn key_of(config: &Config, service: &str, addr: &str) -> ProbeKey {
    let check = config.services[service].check.as_ref().unwrap();
    ProbeKey::for_service(addr.parse().unwrap(), check).unwrap()
}

#[test]
fn shared_targets_are_probed_once_per_distinct_check() {
    let config = parse(
        r#"
[service.www]
name = "www.example.test"
sites = ["hq", "dr"]
check = { type = "tcp", port = 80, interval = "1s", timeout = "500ms" }

[[service.www.route]]
match = { cidr = ["127.0.0.2/32"] }
sites = ["spare"]

[service.api]
name = "api.example.test"
sites = ["hq"]
check = { type = "tcp", port = 80, interval = "1s", timeout = "500ms" }

[service.tls]
name = "tls.example.test"
sites = ["hq"]
check = { type = "https", path = "/healthz", tls_verify = false }

[service.plain]
name = "plain.example.test"
sites = ["hq", "dr"]

[lvs]
site = "hq"
[[lvs.service]]
vip = "203.0.113.10:80"
protocol = "tcp"
scheduler = "wlc"
forward = "dr"
check = { type = "tcp", interval = "2s", timeout = "1s" }
[[lvs.service.real]]
addr = "10.0.0.1:8080"
[[lvs.service.real]]
addr = "10.0.0.2:8080"
"#,
    );
    let set = TargetSet::from_config(&config).unwrap();
    // www and api share hq's two addresses on :80 (192.0.2.10 sits on two links but is one
    // target), www adds dr and, through its route, spare; tls adds hq's two addresses on
    // :443; plain has no check; the LVS reals add two on their own port.
    let names: Vec<String> = set.iter().map(ToString::to_string).collect();
    assert_eq!(set.len(), 4 + 2 + 2, "{names:?}");
    assert!(set.contains(&key_of(&config, "www", "192.0.2.10")));
    assert_eq!(
        key_of(&config, "www", "192.0.2.10"),
        key_of(&config, "api", "192.0.2.10")
    );
    assert!(set.contains(&key_of(&config, "www", "192.0.2.30")));
    let tls = key_of(&config, "tls", "2001:db8::10");
    assert!(set.contains(&tls));
    assert_eq!(tls.addr.port(), 443);
    assert!(matches!(
        tls.check.kind,
        CheckKind::Http {
            https: true,
            tls_verify: false,
            ..
        }
    ));
    let lvs_check = config.lvs.as_ref().unwrap().services[0]
        .check
        .clone()
        .unwrap();
    let real: SocketAddr = "10.0.0.2:8080".parse().unwrap();
    let key = ProbeKey::for_real(real, &lvs_check);
    assert!(set.contains(&key));
    assert_eq!(key.addr, real);
}

#[test]
fn dns_check_answer_reaches_the_probe_key() {
    let config = parse(
        r#"
[service.www]
name = "www.example.test"
sites = ["dr"]
check = { type = "dns", query = "www.example.test", qtype = "a", rcode = "noerror", answer = "192.0.2.1" }
"#,
    );
    let set = TargetSet::from_config(&config).unwrap();
    let key = set.iter().next().unwrap();
    assert_eq!(key.addr, "192.0.2.20:53".parse().unwrap());
    let CheckKind::Dns { answer, qtype, .. } = &key.check.kind else {
        panic!("not dns: {key}");
    };
    assert_eq!(answer.as_deref(), Some("192.0.2.1"));
    assert_eq!(qtype.to_string(), "A");
}

#[test]
fn tcp_check_without_port_on_a_dns_service_is_refused() {
    // Validation refuses it, naming the key; the prober's own check stays as a second line.
    let text = format!(
        "{BASE}{}",
        r#"
[service.www]
name = "www.example.test"
sites = ["hq"]
check = { type = "tcp" }
"#
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/health-test.toml");
    let err = config::parse(&text, &path).expect_err("a tcp check without port must be refused");
    assert!(err.to_string().contains("service.www.check.port"), "{err}");
}
