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
