//! SIGHUP reloads under a continuous query stream: 20 reloads alternating a good and a
//! broken zone change. No query may be lost or answered wrongly; a broken zone keeps its old
//! data; the refusal is logged with file and line.

#![allow(clippy::disallowed_methods)] // a test harness measures wall time

#[path = "support/ports.rs"]
mod ports;

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _killed = self.0.kill();
        let _waited = self.0.wait();
    }
}

fn free_port() -> u16 {
    ports::free_port_lo()
}

fn query(
    sock: &UdpSocket,
    server: SocketAddr,
    id: u16,
    name: &str,
    rtype: RecordType,
) -> Option<Message> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    sock.send_to(&m.to_vec().unwrap(), server).unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let r = Message::from_vec(&buf[..n]).ok()?;
                if r.metadata.id == id {
                    return Some(r);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

fn txt(m: &Message) -> Option<String> {
    m.answers.iter().find_map(|r| match &r.data {
        RData::TXT(t) => Some(t.to_string()),
        _ => None,
    })
}

fn write_zone(dir: &Path, serial: u32, generation: &str, broken: bool) {
    let bad = if broken {
        "oops IN A 192.0.2.300\n"
    } else {
        ""
    };
    let text = format!(
        "$ORIGIN reload.test.\n$TTL 300\n@ IN SOA ns hm {serial} 3600 600 86400 60\n  IN NS ns\nns IN A 192.0.2.53\na IN A 192.0.2.1\nv IN TXT \"{generation}\"\n{bad}"
    );
    let tmp = dir.join("reload.test.zone.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("reload.test.zone")).unwrap();
}

fn hup(child: &Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
}

#[test]
fn twenty_reloads_under_load_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    write_zone(&zones, 1, "gen-0", false);
    let port = free_port();
    let cfg = dir.path().join("meridian.toml");
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = [\"127.0.0.1:{port}\"]\nzones = \"zones\"\n"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let started = Instant::now();
    while query(&sock, addr, 1, "a.reload.test.", RecordType::A).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
    }

    // The stream: one query outstanding at a time, every answer checked.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, lost, wrong) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let stream = {
        let (stop, sent, lost, wrong) = (stop.clone(), sent.clone(), lost.clone(), wrong.clone());
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut id: u16 = 100;
            while !stop.load(Ordering::Relaxed)
                && Instant::now() < deadline
                && sent.load(Ordering::Relaxed) < 200_000
            {
                id = id.wrapping_add(1);
                sent.fetch_add(1, Ordering::Relaxed);
                match query(&sock, addr, id, "a.reload.test.", RecordType::A) {
                    None => {
                        lost.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(m) => {
                        let ok = m.metadata.response_code == ResponseCode::NoError
                            && m.metadata.authoritative
                            && m.answers.len() == 1
                            && matches!(&m.answers[0].data, RData::A(a) if a.0 == std::net::Ipv4Addr::new(192, 0, 2, 1));
                        if !ok {
                            wrong.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        })
    };

    let mut current = "gen-0".to_string();
    for i in 1..=20u32 {
        let broken = i % 2 == 0;
        let generation = format!("gen-{i}");
        write_zone(&zones, i + 1, &generation, broken);
        hup(&server.0);
        if broken {
            std::thread::sleep(Duration::from_millis(300));
        } else {
            current = generation;
        }
        // The expected generation must show within 5 s, and stay (a broken zone keeps the old).
        let t = Instant::now();
        loop {
            let got =
                query(&sock, addr, 7, "v.reload.test.", RecordType::TXT).and_then(|m| txt(&m));
            if got.as_deref() == Some(current.as_str()) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "reload {i}: want {current}, got {got:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A broken policy file is refused as a whole too.
    std::fs::write(&cfg, "[server]\nlisten = \"not a list\"\n").unwrap();
    hup(&server.0);
    std::thread::sleep(Duration::from_millis(300));
    let m = query(&sock, addr, 8, "v.reload.test.", RecordType::TXT).expect("still serving");
    assert_eq!(txt(&m).as_deref(), Some(current.as_str()));

    stop.store(true, Ordering::Relaxed);
    stream.join().unwrap();
    let (sent, lost, wrong) = (
        sent.load(Ordering::Relaxed),
        lost.load(Ordering::Relaxed),
        wrong.load(Ordering::Relaxed),
    );
    assert!(sent > 100, "only {sent} queries were sent");
    assert_eq!(
        (lost, wrong),
        (0, 0),
        "of {sent} queries, {lost} lost and {wrong} wrong"
    );

    let _killed = server.0.kill();
    let mut log = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let refusals = log
        .lines()
        .filter(|l| l.contains("reload.test.zone:8"))
        .count();
    assert!(
        refusals >= 10,
        "each broken reload must log file:line; log:\n{log}"
    );
    assert!(
        log.contains("meridian.toml:2"),
        "a broken policy file must be logged with its line; log:\n{log}"
    );
}
