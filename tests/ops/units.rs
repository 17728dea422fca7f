//! The units in dist/, with the real tools: `systemd-analyze verify` (ExecStart pointed at
//! the built binary, the generated man page on MANPATH) with misspelt and missing-program
//! controls; `systemd-analyze security` exposure at most 2.0; the capabilities and address
//! families of each unit; and an strace of the running server checked against the unit's
//! system-call filter.

#![allow(clippy::disallowed_methods)] // a test harness measures wall time

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::dnsclient;
use crate::node::{self, Site};

/// dist/ in the repository.
fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist")
}

const UNITS: [&str; 2] = ["meridian.service", "director/meridian-director.service"];

/// The units with ExecStart pointing at the binary under test (verify checks that the
/// program exists), in a temporary folder.
fn units_for_test(dir: &Path) -> Vec<PathBuf> {
    let bin = node::bin();
    UNITS
        .iter()
        .map(|u| {
            let text = std::fs::read_to_string(dist().join(u)).unwrap();
            assert!(text.contains("ExecStart=/usr/bin/meridian serve"), "{u}");
            let path = dir.join(Path::new(u).file_name().unwrap());
            std::fs::write(
                &path,
                text.replace("/usr/bin/meridian", &bin.display().to_string()),
            )
            .unwrap();
            path
        })
        .collect()
}

/// The man pages the package ships, for `Documentation=man:meridian(1)`.
fn manpath(dir: &Path) -> PathBuf {
    let out = Command::new(node::bin())
        .arg("generate-assets")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    dir.join("man")
}

fn verify(units: &[PathBuf], manpath: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .env("MANPATH", manpath)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = units_for_test(dir.path());
    let man = manpath(&dir.path().join("assets"));
    let (ok, text) = verify(&units, &man);
    assert!(ok && text.trim().is_empty(), "verify:\n{text}");

    // The control: a misspelt directive and a missing program are reported.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let typo = bad.join("meridian.service");
    std::fs::write(
        &typo,
        std::fs::read_to_string(&units[0])
            .unwrap()
            .replace("ProtectSystem=", "ProtectSytem="),
    )
    .unwrap();
    let (_, text) = verify(std::slice::from_ref(&typo), &man);
    assert!(text.contains("ProtectSytem"), "typo not reported:\n{text}");
    let gone = bad.join("meridian-director.service");
    std::fs::write(
        &gone,
        std::fs::read_to_string(&units[1])
            .unwrap()
            .replace(&node::bin().display().to_string(), "/nonexistent/meridian"),
    )
    .unwrap();
    let (ok, text) = verify(&[gone], &man);
    assert!(!ok, "a missing ExecStart program passed:\n{text}");
}

#[test]
fn units_are_hardened_and_only_the_director_gets_net_admin() {
    let dir = tempfile::tempdir().unwrap();
    let units = units_for_test(dir.path());
    for u in &units {
        // Overall exposure at most 2.0 ("OK") by systemd's own measure.
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
            .arg(u)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            u.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let key = |text: &str, k: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
            .collect()
    };
    let dns = std::fs::read_to_string(&units[0]).unwrap();
    let director = std::fs::read_to_string(&units[1]).unwrap();
    for text in [&dns, &director] {
        assert_eq!(key(text, "Type"), ["notify"]);
        assert_eq!(key(text, "ExecReload"), ["/bin/kill -HUP $MAINPID"]);
        assert_eq!(key(text, "User"), ["meridian"]);
        assert_eq!(key(text, "NoNewPrivileges"), ["yes"]);
        assert_eq!(key(text, "ProtectSystem"), ["strict"]);
        assert!(!key(text, "SystemCallFilter").is_empty());
    }
    assert_eq!(key(&dns, "CapabilityBoundingSet"), ["CAP_NET_BIND_SERVICE"]);
    assert_eq!(key(&dns, "AmbientCapabilities"), ["CAP_NET_BIND_SERVICE"]);
    assert_eq!(
        key(&dns, "RestrictAddressFamilies"),
        ["AF_INET AF_INET6 AF_UNIX"]
    );
    assert_eq!(
        key(&director, "CapabilityBoundingSet"),
        ["CAP_NET_BIND_SERVICE CAP_NET_ADMIN"]
    );
    assert_eq!(
        key(&director, "RestrictAddressFamilies"),
        ["AF_INET AF_INET6 AF_UNIX AF_NETLINK"]
    );
}

/// The system calls a `systemd-analyze syscall-filter` set names, nested sets expanded.
fn expand_set(set: &str, depth: u32) -> std::collections::BTreeSet<String> {
    assert!(depth < 10, "syscall sets nested too deep at {set}");
    let out = Command::new("systemd-analyze")
        .args(["syscall-filter", "--no-pager", set])
        .output()
        .unwrap();
    assert!(out.status.success(), "{set}: {out:?}");
    let mut calls = std::collections::BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let word = line.trim();
        if word.is_empty() || word.starts_with('#') || word.contains(' ') {
            continue;
        }
        match word.starts_with('@') {
            true => calls.extend(expand_set(word, depth + 1)),
            false => {
                calls.insert(word.to_string());
            }
        }
    }
    calls
}

/// What the unit's `SystemCallFilter=` lines allow: the first line's sets, minus every
/// `~` line's.
fn unit_allows(unit: &str) -> std::collections::BTreeSet<String> {
    let mut allowed = std::collections::BTreeSet::new();
    for value in unit
        .lines()
        .filter_map(|l| l.strip_prefix("SystemCallFilter="))
    {
        match value.strip_prefix('~') {
            Some(deny) => {
                for set in deny.split_whitespace() {
                    for call in expand_set(set, 0) {
                        allowed.remove(&call);
                    }
                }
            }
            None => {
                for set in value.split_whitespace() {
                    allowed.extend(expand_set(set, 0));
                }
            }
        }
    }
    allowed
}

/// The name of the account this test runs as.
fn current_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The unit's system-call filter admits every call Meridian makes while it starts, answers
/// UDP and TCP (NSID, CH), serves the admin endpoint, reloads and stops: traced with strace.
/// `[server] user` names the account it already runs as, as a unit's `User=` does: the check
/// that finds nothing to change must stay inside the filter.
#[test]
fn the_system_call_filter_admits_what_meridian_calls() {
    let unit = std::fs::read_to_string(dist().join("meridian.service")).unwrap();
    let allowed = unit_allows(&unit);
    assert!(allowed.contains("recvmmsg") && allowed.contains("epoll_wait"));
    assert!(!allowed.contains("setuid") && !allowed.contains("setrlimit"));

    let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let site = Site::new("", "");
    let admin = (0..20)
        .map(|_| std::net::SocketAddr::new(ip, dnsclient::free_port(&[ip])))
        .find(|a| a.port() != site.addr.port())
        .expect("a port for the admin endpoint");
    site.write_config(
        &format!(
            "admin = \"{admin}\"\nadmin_token_file = \"token\"\nnsid = true\nchaos_id = true\n\
             user = \"{}\"\n",
            current_user()
        ),
        "",
    );
    let trace = site.dir.path().join("syscalls.txt");
    let trace_arg = trace.display().to_string();
    let mut node = site.start_wrapped(&["strace", "-f", "-qq", "-c", "-o", &trace_arg], &[]);
    node.wait_answering(site.addr);
    for proto in [dnsclient::Proto::Udp, dnsclient::Proto::Tcp] {
        let q = dnsclient::query(
            7,
            "www.example.test.",
            hickory_proto::rr::RecordType::A,
            None,
        );
        let r = dnsclient::exchange(proto, ip, site.addr, &q);
        assert_eq!(dnsclient::rcode(&r), 0);
    }
    // The admin endpoint binds after the DNS sockets: wait for it (at most 10 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut http = loop {
        match std::net::TcpStream::connect(admin) {
            Ok(s) => break s,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("admin endpoint {admin}: {e}\n{}", node.stderr()),
        }
    };
    http.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::io::Write::write_all(
        &mut http,
        b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reply = String::new();
    let _read = std::io::Read::read_to_string(&mut http, &mut reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    node.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !node.stderr().contains("reloaded") {
        assert!(std::time::Instant::now() < deadline, "{}", node.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    node.signal("TERM");
    node.wait_exit(Duration::from_secs(20));

    let summary = std::fs::read_to_string(&trace).unwrap();
    let used: Vec<&str> = summary
        .lines()
        .filter(|l| !l.starts_with('%') && !l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .filter(|w| {
            *w != "total"
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        used.contains(&"recvmmsg") && used.contains(&"accept4"),
        "{summary}"
    );
    let denied: Vec<&&str> = used.iter().filter(|c| !allowed.contains(**c)).collect();
    assert!(
        denied.is_empty(),
        "calls the unit's filter refuses: {denied:?}\n{summary}"
    );
}
