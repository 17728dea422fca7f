//! `[server]` refusals: empty listen, zones listed twice or under two spellings, the limit
//! keys' ranges and defaults.

use std::path::Path;

use crate::config::{ConfigError, parse};

const ZONE: &str = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

fn errors(dir: &Path, text: &str) -> Vec<String> {
    match parse(text, &dir.join("m.toml")) {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn empty_listen_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.test.zone"), ZONE).unwrap();
    let e = errors(
        dir.path(),
        "[server]\nzones = \"a.test.zone\"\nlisten = []\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("m.toml:3:10: server.listen: an empty list"),
        "{e:?}"
    );
}

#[test]
fn one_zone_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["a.test.zone", "A.Test.zone", "b.test.zone", "b.test..zone"] {
        std::fs::write(dir.path().join(f), ZONE).unwrap();
    }
    // Same origin by case, and by a trailing dot.
    let e = errors(dir.path(), "[server]\nzones = \".\"\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e.iter()
            .all(|e| e.contains("m.toml:2:9: server.zones: zone ")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("zone a.test. comes from two files")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("zone b.test. comes from two files")),
        "{e:?}"
    );
    // One file listed twice, once through another path.
    let e = errors(
        dir.path(),
        "[server]\nzones = [\"a.test.zone\", \"./a.test.zone\"]\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("is listed twice"), "{e:?}");
}

#[test]
fn limits_have_defaults_ranges_and_are_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.test.zone"), ZONE).unwrap();
    let cfg = parse(
        "[server]\nzones = \"a.test.zone\"\n",
        &dir.path().join("m.toml"),
    )
    .unwrap();
    let s = &cfg.server;
    assert_eq!(
        (s.tcp.limits.max_connections, s.tcp.limits.max_per_prefix),
        (512, 64)
    );
    assert_eq!((s.tcp.limits.prefix_v4, s.tcp.limits.prefix_v6), (24, 56));
    assert!(!s.zone_rules.include_outside_zone_dir);
    let cfg = parse(
        "[server]\nzones = \"a.test.zone\"\ntcp_max_per_prefix = 8\nclient_prefix_v4 = 32\n\
         tcp_io_timeout = \"2s\"\nadmin_timeout = \"1s\"\ninclude_outside_zone_dir = true\n\
         max_zone_file_bytes = 4096\n",
        &dir.path().join("m.toml"),
    )
    .unwrap();
    let s = &cfg.server;
    assert_eq!(s.tcp.limits.max_per_prefix, 8);
    assert_eq!(
        (s.tcp.limits.prefix_v4, s.admin_conn.limits.prefix_v4),
        (32, 32)
    );
    assert_eq!(s.tcp.io_timeout, std::time::Duration::from_secs(2));
    assert_eq!(s.admin_conn.timeout, std::time::Duration::from_secs(1));
    assert!(s.zone_rules.include_outside_zone_dir);
    assert_eq!(s.zone_rules.max_bytes, 4096);
    let e = errors(
        dir.path(),
        "[server]\nzones = \"a.test.zone\"\ntcp_max_per_prefix = 600\nclient_prefix_v6 = 129\n\
         tcp_idle_timeout = \"0s\"\n",
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e.iter()
            .any(|e| e.contains("tcp_max_per_prefix: 600 is above tcp_max_connections (512)")),
        "{e:?}"
    );
}

#[test]
fn rrl_and_the_cookie_secret_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.test.zone"), ZONE).unwrap();
    let base = "[server]\nzones = \"a.test.zone\"\n";
    // Defaults: on at 1000 a second, slip 2, a one-second bucket; no secret file.
    let cfg = parse(base, &dir.path().join("m.toml")).unwrap();
    assert_eq!(cfg.server.rrl, crate::config::RrlSettings::default());
    assert_eq!(
        (cfg.server.rrl.rate, cfg.server.rrl.slip),
        (1000, 2),
        "{:?}",
        cfg.server.rrl
    );
    assert!(cfg.server.cookie_secret.is_none());
    // Every key, the prefix lengths taken from client_prefix_v4/_v6, and a good secret.
    let secret = dir.path().join("cookie.secret");
    std::fs::write(&secret, "00112233445566778899aabbccddeeff\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        "{base}client_prefix_v4 = 20\nrrl = {{ rate = 0, slip = 0, window = \"5s\" }}\ncookie_secret_file = \"cookie.secret\"\n"
    );
    let cfg = parse(&text, &dir.path().join("m.toml")).unwrap();
    let r = cfg.server.rrl;
    assert_eq!(
        (r.rate, r.slip, r.window.as_secs(), r.prefix_v4),
        (0, 0, 5, 20)
    );
    assert!(cfg.server.cookie_secret.is_some());
    // Out of range, an unknown key, and a secret readable by others: each with its place.
    let e = errors(
        dir.path(),
        &format!("{base}rrl = {{ rate = -1, slip = 101, window = \"2h\" }}\n"),
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].contains("m.toml:3:16: server.rrl.rate: -1 is out of range"));
    assert!(
        e[1].contains("server.rrl.slip: 101 is out of range"),
        "{e:?}"
    );
    assert!(e[2].contains("server.rrl.window: at most 1h"), "{e:?}");
    let e = errors(
        dir.path(),
        &format!("{base}rrl = {{ exempt = [\"10.0.0.0/8\", \"10.1.2.3/8\"] }}\n"),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("server.rrl.exempt[1]: `10.1.2.3/8` has bits set"),
        "{e:?}"
    );
    let cfg = parse(
        &format!("{base}rrl = {{ exempt = [\"10.0.0.0/8\"] }}\n"),
        &dir.path().join("m.toml"),
    )
    .unwrap();
    let r = &cfg.server.rrl;
    assert!(r.exempts("10.9.9.9".parse().unwrap()) && !r.exempts("127.0.0.1".parse().unwrap()));
    let e = errors(dir.path(), &format!("{base}rrl = {{ burst = 3 }}\n"));
    assert!(
        e.iter().any(|e| e.contains("unknown field `burst`")),
        "{e:?}"
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = errors(
        dir.path(),
        &format!("{base}cookie_secret_file = \"cookie.secret\"\n"),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("m.toml:3:22: server.cookie_secret_file:") && e[0].contains("chmod 600"),
        "{e:?}"
    );
}

#[test]
fn admin_read_is_open_by_default_and_refuses_other_words() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.test.zone"), ZONE).unwrap();
    let base = "[server]\nzones = \"a.test.zone\"\n";
    let cfg = parse(base, &dir.path().join("m.toml")).unwrap();
    assert_eq!(cfg.server.admin_read, crate::config::AdminRead::Open);
    let text = format!("{base}admin_read = \"token\"\n");
    let cfg = parse(&text, &dir.path().join("m.toml")).unwrap();
    assert_eq!(cfg.server.admin_read, crate::config::AdminRead::Token);
    let e = errors(dir.path(), &format!("{base}admin_read = \"closed\"\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].ends_with("m.toml:3:14: server.admin_read: `closed` is not one of open, token"),
        "{e:?}"
    );
}
