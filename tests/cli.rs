//! The command line as an operator uses it: `check` exit codes and messages, `explain` in
//! both forms, and logging formats.

use std::process::Command;

fn meridian(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(args)
        .output()
        .expect("run meridian");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example() -> String {
    format!("{}/examples/meridian.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_accepts_the_example_and_refuses_a_broken_file_with_exit_2() {
    let (code, out, _) = meridian(&["check", "--config", &example()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nzones = \"nope\"\nlisen = 1\n").unwrap();
    let (code, _, err) = meridian(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.toml:3:1: server.lisen: unknown field `lisen`"),
        "{err}"
    );

    // A broken zone is a configuration error too, named by file and line.
    std::fs::create_dir(dir.path().join("z")).unwrap();
    std::fs::write(
        dir.path().join("z/t.test.zone"),
        "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 300.1.1.1\n",
    )
    .unwrap();
    std::fs::write(&bad, "[server]\nzones = \"z\"\n").unwrap();
    let (code, _, err) = meridian(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("t.test.zone:4:"), "{err}");
}

#[test]
fn check_reports_every_mistyped_value_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("typo.toml");
    let zones = format!("{}/zones", env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"[server]
zones = "{zones}"
metrics = "127.0.0.1:9100"
[site.hq]
links = {{ default = ["192.0.2.1"] }}
[service.www]
name = "www.example.test"
sites = ["hq"]
check = {{ type = "dns", query = "www.example.test", qtype = "AAA", rcode = "NXDOMIAN" }}
[service.api]
name = "api.example.test"
sites = ["hq"]
check = {{ type = "http", method = "PUT" }}
[lvs]
[[lvs.service]]
vip = "203.0.113.10:80"
scheduler = "fastest"
flags = ["one-packet", "sh-prot"]
"#
    );
    std::fs::write(&bad, text).unwrap();
    let (code, _, err) = meridian(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    for want in [
        "typo.toml:3:11: server.metrics: ",
        "typo.toml:9:61: service.www.check.qtype: `AAA` is not a record type",
        "typo.toml:9:76: service.www.check.rcode: `NXDOMIAN` is not one of NOERROR",
        "typo.toml:13:35: service.api.check.method: `PUT` is not one of GET, HEAD, POST, OPTIONS",
        "typo.toml:17:13: lvs.service[0].scheduler: `fastest` is not one of rr, wrr, lc, wlc,",
        "typo.toml:18:24: lvs.service[0].flags[1]: `sh-prot` is not one of one-packet, sh-fallback,",
    ] {
        assert!(err.contains(want), "no `{want}` in:\n{err}");
    }
}

#[test]
fn a_missing_config_file_exits_2_and_names_it() {
    let (code, _, err) = meridian(&["check", "--config", "/nonexistent/m.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/m.toml"), "{err}");
    // Said once: the error quotes its cause, which the chain must not repeat.
    assert_eq!(err.matches("not found").count(), 1, "{err}");
}

#[test]
fn explain_says_which_rule_site_and_link_and_the_scope() {
    // 192.0.2.0/24 is North America in examples/geo/city.csv: route rule #1 sends it to `dr`,
    // whose default link has 192.0.2.22; the database block is a /24.
    let (code, out, err) = meridian(&[
        "explain",
        "--offline",
        "--config",
        &example(),
        "--client",
        "192.0.2.9",
        "www.example.test",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rule #1"), "{out}");
    assert!(
        out.contains("www.example.test. 30 IN A 192.0.2.22"),
        "{out}"
    );
    assert!(out.contains("SCOPE /24"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("dr") && l.contains("[SELECTED]")),
        "{out}"
    );

    // 198.51.100.200 is in unicom's CIDR (198.51.100.128/25): hq's unicom link.
    let (code, out, _) = meridian(&[
        "explain",
        "--offline",
        "--json",
        "--config",
        &example(),
        "--client",
        "198.51.100.200",
        "www.example.test",
        "A",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["policy"]["answer"][0], "203.0.113.11");
    assert_eq!(v["policy"]["attributes"]["isp"], "unicom");
    assert_eq!(v["response"]["ecs_scope"], 25);
    assert_eq!(
        v["response"]["answer"][0],
        "www.example.test. 30 IN A 203.0.113.11"
    );

    // A static name: the zone's answer, no policy.
    let (_, out, _) = meridian(&[
        "explain",
        "--offline",
        "--config",
        &example(),
        "--client",
        "192.0.2.9",
        "alias.example.test",
    ]);
    assert!(out.contains("zone files") && out.contains("CNAME"), "{out}");
}

#[test]
fn bad_explain_arguments_exit_2() {
    let (code, _, _) = meridian(&["explain", "--client", "not-an-ip", "www.example.test"]);
    assert_eq!(code, 2);
    let (code, _, err) = meridian(&[
        "explain",
        "--config",
        &example(),
        "--client",
        "192.0.2.1",
        "www.example.test",
        "BOGUS",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn cluster_keygen_writes_a_private_key_once_and_check_reads_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cluster.key");
    let (code, out, err) = meridian(&["cluster", "keygen", key.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.len(), 65, "{text:?}");
    assert!(
        text.trim_end().bytes().all(|b| b.is_ascii_hexdigit()),
        "{text:?}"
    );
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let (code, _, err) = meridian(&["cluster", "keygen", key.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        text,
        "not overwritten"
    );

    let cfg = dir.path().join("m.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nzones = \"{}/zones\"\n[cluster]\nnode = \"n1\"\nlisten = \"127.0.0.1:7946\"\nkey_file = \"cluster.key\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let (code, out, err) = meridian(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = meridian(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("m.toml:6:12: cluster.key_file:") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn check_refuses_a_service_below_a_zone_cut_naming_its_name_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("z")).unwrap();
    std::fs::write(
        dir.path().join("z/t.test.zone"),
        "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.53\nsub NS ns.elsewhere.test.\n",
    )
    .unwrap();
    let cfg = dir.path().join("m.toml");
    let text = |name: &str| {
        format!(
            "[server]\nzones = \"z\"\n[site.a]\nlinks = {{ default = [\"192.0.2.1\"] }}\n\
             [service.ok]\nname = \"www.t.test\"\nsites = [\"a\"]\n\
             [service.deep]\nname = \"{name}\"\nsites = [\"a\"]\n"
        )
    };
    std::fs::write(&cfg, text("www.sub.t.test")).unwrap();
    let (code, _, err) = meridian(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("m.toml:9:8: service.deep.name: `www.sub.t.test` lies at or below the delegation to sub.t.test."), "{err}");
    assert!(!err.contains("service.ok"), "{err}");
    // At the cut itself too; outside it, accepted.
    std::fs::write(&cfg, text("sub.t.test")).unwrap();
    let (code, _, err) = meridian(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    std::fs::write(&cfg, text("other.t.test")).unwrap();
    let (code, out, err) = meridian(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn explain_lists_anycast_prefixes_and_says_why_their_state_is_not_known() {
    let dir = tempfile::tempdir().unwrap();
    let zones = format!("{}/zones", env!("CARGO_MANIFEST_DIR"));
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let write = |admin: &str| {
        let cfg = dir.path().join("m.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = [\"127.0.0.1:5399\"]\nzones = \"{zones}\"\n{admin}\n\
                 [anycast]\nbackend = \"exabgp\"\n\
                 [[anycast.prefix]]\nprefix = \"192.0.2.53/32\"\nwhen = [\"dns\"]\n\
                 [[anycast.prefix]]\nprefix = \"2001:db8:53::/48\"\nwhen = [\"dns\", \"site:hq\"]\n\
                 [site.hq]\nlinks = {{ default = [\"192.0.2.10\"] }}\n"
            ),
        )
        .unwrap();
        cfg.to_str().unwrap().to_string()
    };
    let explain = |cfg: &str, extra: &[&str]| {
        let mut args = vec!["explain", "--config", cfg, "--client", "192.0.2.9"];
        args.extend_from_slice(extra);
        args.push("example.test");
        let (code, out, err) = meridian(&args);
        assert_eq!(code, 0, "{err}");
        out
    };

    let cfg = write("");
    let out = explain(&cfg, &[]);
    assert!(
        out.contains("Anycast:  state not known: [server] admin is not set"),
        "{out}"
    );
    assert!(out.contains("192.0.2.53/32        when dns\n"), "{out}");
    assert!(
        out.contains("2001:db8:53::/48     when dns, site:hq\n"),
        "{out}"
    );

    let cfg = write(&format!(
        "admin = \"127.0.0.1:{port}\"\nadmin_token_file = \"{}/token\"",
        dir.path().display()
    ));
    let out = explain(&cfg, &[]);
    assert!(
        out.contains("state not known: cannot reach the admin endpoint 127.0.0.1:"),
        "{out}"
    );
    let out = explain(&cfg, &["--offline"]);
    assert!(out.contains("state not known: --offline"), "{out}");
    let out = explain(&cfg, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["anycast"]["source"]
            .as_str()
            .unwrap()
            .starts_with("not known: cannot reach"),
        "{v}"
    );
    assert_eq!(v["anycast"]["configured"][1]["prefix"], "2001:db8:53::/48");
    assert_eq!(v["anycast"]["configured"][1]["when"][1], "site:hq");

    // No [anycast]: no section at all.
    let (_, out, _) = meridian(&[
        "explain",
        "--offline",
        "--config",
        &example(),
        "--client",
        "192.0.2.9",
        "www.example.test",
    ]);
    assert!(!out.contains("Anycast"), "{out}");
}
