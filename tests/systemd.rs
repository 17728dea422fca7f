//! systemd integration, with the real tools: the notification protocol against a notify
//! socket this test binds (READY=1 only once DNS answers, RELOADING=1 with MONOTONIC_USEC
//! then READY=1 around SIGHUP, refused reloads included, STOPPING=1 at SIGTERM);
//! `systemd-analyze verify` and `security` on the units in dist/; plain logs (no ANSI
//! colour) when standard error is not a terminal.

#![allow(clippy::disallowed_methods)] // a test harness measures wall time

#[path = "support/dnsclient.rs"]
mod dnsclient;
#[path = "support/node.rs"]
mod node;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use node::Site;

/// The next notification, as its `KEY=value` lines (at most 20 s).
fn next(sock: &UnixDatagram, node: &node::Node) -> Vec<String> {
    let mut buf = vec![0u8; 4096];
    match sock.recv(&mut buf) {
        Ok(n) => String::from_utf8(buf[..n].to_vec())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
        Err(e) => panic!("no notification within 20 s ({e}):\n{}", node.stderr()),
    }
}

fn has(msg: &[String], line: &str) -> bool {
    msg.iter().any(|l| l == line)
}

fn status(msg: &[String]) -> &str {
    msg.iter()
        .find_map(|l| l.strip_prefix("STATUS="))
        .unwrap_or("")
}

/// CLOCK_MONOTONIC now, in microseconds.
fn monotonic_usec() -> i128 {
    match sd_notify::NotifyState::monotonic_usec_now().unwrap() {
        sd_notify::NotifyState::MonotonicUsec(t) => t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn notify_ready_reloading_stopping() {
    let site = Site::new("", "");
    let sock_path = site.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut node = site.start(&[("NOTIFY_SOCKET", &sock_path)]);

    // The first notification is READY=1, and at that moment DNS answers at once: a single
    // query with no retry, on a connected socket that fails if nothing listens yet.
    let ready = next(&sock, &node);
    assert!(has(&ready, "READY=1"), "{ready:?}");
    assert!(
        node::answers(site.addr, Duration::from_secs(2)),
        "READY=1 came before DNS answered:\n{}",
        node.stderr()
    );
    assert!(status(&ready).contains(&site.addr.to_string()), "{ready:?}");

    // A good reload: RELOADING=1 with the monotonic time, then READY=1.
    let before = monotonic_usec();
    node.signal("HUP");
    let reloading = next(&sock, &node);
    assert!(has(&reloading, "RELOADING=1"), "{reloading:?}");
    let usec: i128 = reloading
        .iter()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"))
        .parse()
        .unwrap();
    // Taken when the reload started: between the signal and its arrival here.
    let after = monotonic_usec();
    assert!(
        before <= usec && usec <= after,
        "{before} <= {usec} <= {after}"
    );
    let ready = next(&sock, &node);
    assert!(has(&ready, "READY=1"), "{ready:?}");
    assert!(status(&ready).contains("reloaded"), "{ready:?}");

    // A refused reload still ends with READY=1 (the old configuration keeps serving), and
    // says so in STATUS.
    std::fs::write(site.config(), "[server]\nlisten = 53\n").unwrap();
    node.signal("HUP");
    assert!(has(&next(&sock, &node), "RELOADING=1"));
    let ready = next(&sock, &node);
    assert!(has(&ready, "READY=1"), "{ready:?}");
    assert!(status(&ready).contains("refused"), "{ready:?}");
    assert!(node::answers(site.addr, Duration::from_secs(2)));

    node.signal("TERM");
    let stopping = next(&sock, &node);
    assert!(has(&stopping, "STOPPING=1"), "{stopping:?}");
    assert_eq!(node.wait_exit(Duration::from_secs(10)), Some(0));
    // Nothing after STOPPING=1.
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(
        sock.recv(&mut buf).is_err(),
        "a notification after STOPPING=1"
    );
}

#[test]
fn without_notify_socket_nothing_is_sent_and_serving_works() {
    let site = Site::new("", "");
    let mut node = site.start(&[]);
    node.wait_answering(site.addr);
    node.signal("TERM");
    assert_eq!(node.wait_exit(Duration::from_secs(10)), Some(0));
    let log = node.stderr();
    assert!(!log.contains("cannot notify"), "{log}");
}

#[test]
fn logs_have_no_colour_when_stderr_is_not_a_terminal() {
    let site = Site::new("", "");
    let mut node = site.start(&[]);
    node.wait_answering(site.addr);
    node.signal("TERM");
    node.wait_exit(Duration::from_secs(10));
    let log = std::fs::read(&node.log).unwrap();
    assert!(
        String::from_utf8_lossy(&log).contains("serving"),
        "no log written"
    );
    assert!(!log.contains(&0x1b), "ESC in a log written to a file");

    // The control: on a terminal (a pseudo-terminal from script(1)) the same logs are coloured,
    // so the check above can fail.
    let cmd = format!(
        "timeout -s INT 3 {} serve --config {}",
        node::bin().display(),
        site.config().display()
    );
    let on_tty = |no_color: Option<&str>| -> Vec<u8> {
        let mut script = Command::new("script");
        script
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            script.env("NO_COLOR", v);
        }
        let out = script.output().expect("script(1) from bsdutils");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("serving"), "{text}");
        out.stdout
    };
    assert!(on_tty(None).contains(&0x1b), "no colour on a terminal");
    // NO_COLOR (no-color.org) turns it off there too.
    assert!(
        !on_tty(Some("1")).contains(&0x1b),
        "colour despite NO_COLOR"
    );
}

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

/// The unit's system-call filter admits every call Meridian makes while it starts, answers
/// UDP and TCP (NSID, CH), serves the admin endpoint, reloads and stops: traced with strace.
#[test]
fn the_system_call_filter_admits_what_meridian_calls() {
    let unit = std::fs::read_to_string(dist().join("meridian.service")).unwrap();
    let allowed = unit_allows(&unit);
    assert!(allowed.contains("recvmmsg") && allowed.contains("epoll_wait"));
    assert!(!allowed.contains("setuid") && !allowed.contains("setrlimit"));

    let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let admin = std::net::SocketAddr::new(ip, dnsclient::free_port(&[ip]));
    let site = Site::new(
        &format!(
            "admin = \"{admin}\"\nadmin_token_file = \"token\"\nnsid = true\nchaos_id = true\n"
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
    let mut http = std::net::TcpStream::connect(admin).unwrap();
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
