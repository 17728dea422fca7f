//! Tests of policy-file validation: every error names file, line and key.

use std::path::{Path, PathBuf};

use super::*;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/meridian.toml")
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse(text, &example()) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

#[test]
fn example_config_is_valid() {
    let cfg = load(&example()).expect("example config");
    assert_eq!(cfg.server.listen[0], "127.0.0.1:5353".parse().unwrap());
    assert!(!cfg.server.zone_files.is_empty());
    assert_eq!(cfg.services["www"].fqdn, "www.example.test.");
}

/// Tables whose keys are user-chosen names, not fields.
fn is_map(path: &[String]) -> bool {
    matches!(
        path.last().map(String::as_str),
        Some("isp" | "site" | "service" | "links" | "weights")
    ) && !(path.len() == 1 && path[0] == "lvs")
}

fn tables(v: &toml::Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        toml::Value::Table(t) => {
            if !is_map(&path) {
                out.push(path.clone());
            }
            for (k, v) in t {
                let mut p = path.clone();
                p.push(k.clone());
                tables(v, p, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                let mut p = path.clone();
                p.push(format!("#{i}"));
                tables(v, p, out);
            }
        }
        _ => {}
    }
}

fn insert_bogus(v: &mut toml::Value, path: &[String]) {
    let mut cur = v;
    for p in path {
        cur = match (cur, p.strip_prefix('#')) {
            (toml::Value::Array(a), Some(i)) => &mut a[i.parse::<usize>().unwrap()],
            (toml::Value::Table(t), _) => t.get_mut(p).unwrap(),
            _ => unreachable!(),
        };
    }
    if let toml::Value::Table(t) = cur {
        t.insert("bogus_key_xyz".into(), toml::Value::Integer(1));
    }
}

#[test]
fn a_bogus_key_in_every_table_is_refused() {
    for file in [
        example(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/full.toml"),
    ] {
        let text = std::fs::read_to_string(&file).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        let mut paths = Vec::new();
        tables(&value, Vec::new(), &mut paths);
        assert!(
            paths.len() > 5,
            "{}: only {} tables",
            file.display(),
            paths.len()
        );
        for path in paths {
            let mut v = value.clone();
            insert_bogus(&mut v, &path);
            let text = toml::to_string(&v).unwrap();
            let errs = match parse(&text, &file) {
                Ok(_) => panic!("{}: bogus key in {path:?} accepted", file.display()),
                Err(e) => e.to_string(),
            };
            assert!(
                errs.contains("unknown field") && errs.contains("bogus_key_xyz"),
                "{path:?}: {errs}"
            );
        }
    }
}

/// The test key named by `tests/data/full.toml`, made private (git does not keep mode 0600).
fn private_test_key() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cluster.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    key
}

#[test]
fn full_config_parses_every_section() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/full.toml");
    let key = private_test_key();
    let cfg = load(&file).unwrap_or_else(|e| panic!("{e}"));
    let cluster = cfg.cluster.as_ref().unwrap();
    assert_eq!(cluster.node, "hq-ns1");
    assert_eq!(cluster.listen, "127.0.0.1:7946".parse().unwrap());
    assert_eq!(cluster.seeds, ["127.0.0.2:7946".parse().unwrap()]);
    assert_eq!(
        cluster.key_file, key,
        "relative to the config file's folder"
    );
    assert_eq!(cluster.vantage.quorum, Quorum::Majority);
    assert_eq!(
        cluster.vantage.stale_after,
        std::time::Duration::from_secs(15)
    );
    assert_eq!(
        cluster.gossip_interval,
        std::time::Duration::from_millis(200)
    );
    let lvs = cfg.lvs.as_ref().unwrap();
    assert_eq!(lvs.services.len(), 2);
    assert_eq!(lvs.services[0].reals[0].weight, 100);
    assert_eq!(cfg.services["www"].routes.len(), 2);
    assert_eq!(cfg.overrides.len(), 1);
    let check = cfg.services["www"].check.as_ref().unwrap();
    assert_eq!(check.interval, std::time::Duration::from_secs(1));
    assert_eq!(check.fall, 2);
    assert_eq!(
        check.start,
        StartState::Up,
        "a service target counts as up until its first result"
    );
    let real_check = lvs.services[0].check.as_ref().unwrap();
    assert_eq!(
        real_check.start,
        StartState::Up,
        "a real server starts up unless the check says otherwise"
    );
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = "[server]\nlisten = [\"127.0.0.1:5353\"]\nzones = \"../zones\"\nlisen = 3\n";
    let d = errors(text);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].line, 4, "{}", d[0]);
    assert_eq!(d[0].key, "server.lisen");
    assert!(d[0].message.contains("unknown field"), "{}", d[0]);
}

#[test]
fn wrong_type_names_line_and_key() {
    let d = errors("[server]\nzones = \"../zones\"\nmax_udp_payload = \"big\"\n");
    assert_eq!(
        (d[0].line, d[0].key.as_str()),
        (3, "server.max_udp_payload"),
        "{}",
        d[0]
    );
}

#[test]
fn udp_receive_buffer_is_optional_and_bounded() {
    let ok = |text: &str| parse(text, &example()).map(|c| c.server.udp_receive_buffer);
    assert_eq!(ok("[server]\nzones = \"../zones\"\n").unwrap(), None);
    let big = "[server]\nzones = \"../zones\"\nudp_receive_buffer = 67108864\n";
    assert_eq!(ok(big).unwrap(), Some(64 << 20));
    for bad in ["65535", "1073741825", "-1"] {
        let d = errors(&format!(
            "[server]\nzones = \"../zones\"\nudp_receive_buffer = {bad}\n"
        ));
        assert_eq!(
            (d[0].line, d[0].key.as_str()),
            (3, "server.udp_receive_buffer"),
            "{}",
            d[0]
        );
        assert!(d[0].message.contains("65536..=1073741824"), "{}", d[0]);
    }
}

#[test]
fn semantic_errors_are_all_collected_with_lines() {
    let text = r#"[server]
listen = ["127.0.0.1:5353", "localhost"]
zones = "../zones"
max_udp_payload = 100

[site.hq]
links = { default = ["203.0.113.300"], nosuchisp = ["192.0.2.1"] }

[service.www]
name = "www.elsewhere.test"
sites = ["hq", "mars"]
mode = "random"
check = { type = "tcp", port = 70000 }
"#;
    let d = errors(text);
    let find = |key: &str| {
        d.iter()
            .find(|x| x.key == key)
            .unwrap_or_else(|| panic!("no error for {key}: {d:#?}"))
            .line
    };
    assert_eq!(find("server.listen[1]"), 2);
    assert_eq!(find("server.max_udp_payload"), 4);
    assert_eq!(find("site.hq.links.default[0]"), 7);
    assert_eq!(find("site.hq.links.nosuchisp"), 7);
    assert_eq!(find("service.www.name"), 10);
    assert_eq!(find("service.www.sites[1]"), 11);
    assert_eq!(find("service.www.mode"), 12);
    assert_eq!(find("service.www.check.port"), 13);
    for x in &d {
        assert!(
            x.to_string()
                .starts_with(&format!("{}:", example().display())),
            "{x}"
        );
    }
}

#[test]
fn missing_zone_file_is_named() {
    let d = errors("[server]\nzones = [\"nope.zone\"]\n");
    assert_eq!(d[0].key, "server.zones[0]");
    assert!(d[0].message.contains("nope.zone"), "{}", d[0]);
}

#[test]
fn cidr_file_errors_name_the_list_file_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.txt"),
        "# comment\n192.0.2.0/24\n\n10.0.0.1/8\n",
    )
    .unwrap();
    let cfg = dir.path().join("m.toml");
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let text = format!(
        "[server]\nzones = {:?}\n[isp.t]\ncidr_files = [\"t.txt\"]\n",
        zones.display().to_string()
    );
    std::fs::write(&cfg, &text).unwrap();
    let e = load(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("t.txt:4:") && e.contains("isp.t.cidr_files[0]"),
        "{e}"
    );
}

#[test]
fn lvs_errors() {
    let text = r#"[server]
zones = "../zones"
[lvs]
[[lvs.service]]
vip = "203.0.113.10:80"
scheduler = "fastest"
forward = "magic"
[[lvs.service.real]]
addr = "[2001:db8::1]:80"
"#;
    let d = errors(text);
    let keys: Vec<&str> = d.iter().map(|x| x.key.as_str()).collect();
    assert!(keys.contains(&"lvs.service[0].scheduler"), "{keys:?}");
    assert!(keys.contains(&"lvs.service[0].forward"), "{keys:?}");
    assert!(keys.contains(&"lvs.service[0].real[0].addr"), "{keys:?}");
}

fn cluster_text(key: &Path, extra: &str) -> String {
    format!(
        "[server]\nzones = \"../zones\"\n[cluster]\nnode = \"n1\"\nlisten = \"127.0.0.1:7946\"\nkey_file = {:?}\n{extra}",
        key.display().to_string()
    )
}

#[test]
fn cluster_defaults() {
    let key = private_test_key();
    let cfg = parse(&cluster_text(&key, ""), &example()).unwrap_or_else(|e| panic!("{e}"));
    let c = cfg.cluster.unwrap();
    assert!(c.seeds.is_empty());
    assert_eq!(c.vantage, Vantage::default());
    assert_eq!(c.gossip_interval, Cluster::DEFAULT_GOSSIP_INTERVAL);
    let c = parse(
        &cluster_text(&key, "vantage = { quorum = 2 }\n"),
        &example(),
    )
    .unwrap()
    .cluster
    .unwrap();
    assert_eq!(c.vantage.quorum, Quorum::AtLeast(2));
    assert_eq!(c.vantage.stale_after, Vantage::default().stale_after);
}

#[test]
fn cluster_errors_name_line_and_key() {
    let key = private_test_key();
    let text = format!(
        "{}seeds = [\"127.0.0.2:7946\", \"nohost\"]\nvantage = {{ quorum = \"most\", stale_after = \"100ms\" }}\ngossip_interval = \"5ms\"\n",
        cluster_text(&key, "")
            .replace("\"n1\"", "\"bad name\"")
            .replace(":7946\"\nkey", ":0\"\nkey")
    );
    let d = errors(&text);
    let find = |k: &str| {
        d.iter()
            .find(|x| x.key == k)
            .unwrap_or_else(|| panic!("no error for {k}: {d:#?}"))
    };
    assert_eq!(find("cluster.node").line, 4);
    assert!(find("cluster.listen").message.contains("must not be 0"));
    assert_eq!(find("cluster.seeds[1]").line, 7);
    assert!(find("cluster.vantage.quorum").message.contains("`most`"));
    assert!(
        find("cluster.vantage.stale_after")
            .message
            .contains("4 gossip intervals")
    );
    assert_eq!(find("cluster.gossip_interval").line, 9);
    let d = errors(&cluster_text(&key, "vantage = { quorum = 0 }\n"));
    assert_eq!(d[0].key, "cluster.vantage.quorum", "{d:?}");
}

#[test]
fn a_missing_short_or_readable_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let readable = dir.path().join("readable.key");
    std::fs::write(&readable, "ab".repeat(32)).unwrap();
    std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let short = dir.path().join("short.key");
    std::fs::write(&short, "ab".repeat(16)).unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    for (path, want) in [
        (dir.path().join("absent.key"), "not found"),
        (readable, "chmod 600"),
        (short, "too short"),
    ] {
        let d = errors(&cluster_text(&path, ""));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].key.as_str(), d[0].line),
            ("cluster.key_file", 6),
            "{}",
            d[0]
        );
        assert!(
            d[0].message.contains(want) && d[0].message.contains(&*path.to_string_lossy()),
            "{}",
            d[0]
        );
    }
}

mod run_as;
mod typed;
