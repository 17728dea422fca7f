//! The command line against hostile surroundings: a proxy in the environment never sees the
//! admin token, `check` returns at once on a FIFO or a device named as a zone or
//! `$INCLUDE`, and a corrupt state file is reported by `check`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const ZONE: &str = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

fn meridian(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meridian"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run meridian")
}

/// Accepts connections on a thread and counts them; each gets `answer` (if any) and is
/// closed. Serves at most `max` connections, then stops.
fn listener(answer: Option<&'static str>, max: usize) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().take(max) {
            let Ok(mut s) = conn else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 4096];
            let _read = s.read(&mut buf);
            if let Some(body) = answer {
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _sent = s.write_all(resp.as_bytes());
            }
        }
    });
    (addr, seen)
}

fn write_config(dir: &Path, extra: &str) -> String {
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::write(dir.join("zones/t.test.zone"), ZONE).unwrap();
    let path = dir.join("m.toml");
    std::fs::write(&path, format!("[server]\nzones = \"zones\"\n{extra}")).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn override_never_goes_through_a_proxy_and_warns_without_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, asked) = listener(Some("[]"), 8);
    let (proxy, proxied) = listener(None, 8);
    let token = dir.path().join("token");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&token)
            .unwrap();
        f.write_all(b"0123456789abcdef0123").unwrap();
    }
    let cfg = write_config(
        dir.path(),
        &format!("admin = \"{admin}\"\nadmin_token_file = \"token\"\n"),
    );
    let env: Vec<(&str, String)> = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .into_iter()
        .map(|k| (k, format!("http://{proxy}")))
        .collect();
    let out = meridian(&["override", "--config", &cfg, "list"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("no overrides"), "{stdout}");
    let out = meridian(
        &["override", "--config", &cfg, "set", "site:hq", "down"],
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stderr.contains("no [health] state_file") && stderr.contains("until the server restarts"),
        "{stderr}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy was contacted");
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// `check` on a config whose zone or `$INCLUDE` is a FIFO: returns in well under the 10 s
/// the child is given, exit 2, naming the file; a child that hangs is killed.
#[test]
fn check_returns_at_once_on_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    mkfifo(&dir.path().join("zones/fifo.test.zone"));
    std::fs::write(
        dir.path().join("zones/inc.test.zone"),
        format!("{ZONE}$INCLUDE part.inc\n"),
    )
    .unwrap();
    mkfifo(&dir.path().join("zones/part.inc"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["check", "--config", &cfg])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if waited > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("check hung on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("inc.test.zone:5:10: $INCLUDE refused"),
        "{stderr}"
    );
    assert!(
        stderr.contains("part.inc: a FIFO, not a regular file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fifo.test.zone: a FIFO, not a regular file"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_state_file_fails_check_and_serve_starts_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "listen = [\"127.0.0.1:0\"]\nudp_threads = 1\n[health]\nstate_file = \"state.json\"\n",
    );
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"version\":2,\"overr").unwrap();
    let out = meridian(&["check", "--config", &cfg], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[health] state_file") && stderr.contains("state.json"),
        "{stderr}"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["serve", "--config", &cfg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Started (the file moved aside) within 10 s.
    let mut aside = None;
    for _ in 0..200 {
        aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("state.json.corrupt-"));
        if aside.is_some() || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Time to log and to keep running.
    std::thread::sleep(Duration::from_millis(300));
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(running, "serve stopped: {stderr}");
    assert!(aside.is_some(), "not moved aside: {stderr}");
    assert!(stderr.contains("state file unusable"), "{stderr}");
}
