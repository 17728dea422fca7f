//! Running under systemd: the notification protocol against a notify socket this test binds
//! (READY=1 only once DNS answers, RELOADING=1 with MONOTONIC_USEC then READY=1 around
//! SIGHUP, refused reloads included, STOPPING=1 at SIGTERM), and plain logs (no ANSI
//! colour) when standard error is not a terminal. The units themselves are checked in
//! `units`.

#![allow(clippy::disallowed_methods)] // a test harness measures wall time

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use crate::node::{self, Site};

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
