//! The scheduler end to end over real loopback servers: down/up timing bounds, no flapping,
//! views published only on change, reloads that keep state, overrides that persist.
//! (Building the target set from a `Config` is in `health_targets.rs`.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use meridian::config::{Check, CheckKind, HttpMethod, OverrideState, OverrideTarget, StartState};
use meridian::health::overrides::RuntimeOverride;
use meridian::health::{
    DnsTarget, HealthView, ProbeKey, RealTarget, Scheduler, SchedulerOptions, Status, TargetSet,
    dns_table, real_table,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn tcp_check(interval_ms: u64, timeout_ms: u64, rise: u32, fall: u32) -> Check {
    Check {
        kind: CheckKind::Tcp,
        port: None,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        rise,
        fall,
        start: StartState::Down,
    }
}

/// A TCP server that can be killed (listener closed) and started again on the same port.
struct TcpServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TcpServer {
    async fn start(addr: SocketAddr) -> TcpServer {
        let sock = TcpSocket::new_v4().unwrap();
        sock.set_reuseaddr(true).unwrap();
        sock.bind(addr).unwrap();
        let listener = sock.listen(1024).unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                drop(s);
            }
        });
        TcpServer { addr, task }
    }

    async fn kill(self) -> SocketAddr {
        self.task.abort();
        // Wait until the task (and so the listener) is dropped.
        assert!(self.task.await.is_err_and(|e| e.is_cancelled()));
        self.addr
    }
}

async fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Waits until `key` is in `want`; returns how long it took.
async fn wait_state(
    rx: &mut watch::Receiver<Arc<HealthView>>,
    key: &ProbeKey,
    want: Status,
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    let reached = tokio::time::timeout(limit, async {
        loop {
            if rx.borrow_and_update().state(key) == Some(want) {
                return;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    let state = rx.borrow().state(key);
    assert!(
        reached.is_ok(),
        "{key} not {want} within {limit:?}, is {state:?}"
    );
    start.elapsed()
}

fn start(
    targets: TargetSet,
    options: SchedulerOptions,
) -> (
    meridian::health::HealthHandle,
    CancellationToken,
    JoinHandle<()>,
) {
    let (scheduler, handle) = Scheduler::new(targets, options).unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        scheduler.run(token).await.unwrap();
    });
    (handle, shutdown, task)
}

async fn stop(shutdown: CancellationToken, task: JoinHandle<()>) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("scheduler stops within 2 s")
        .unwrap();
}

#[tokio::test]
async fn killed_server_goes_down_and_comes_back_within_bounds() {
    let (interval, timeout, rise, fall) = (200u64, 300u64, 2u32, 2u32);
    let server = TcpServer::start(any_port().await).await;
    let check = tcp_check(interval, timeout, rise, fall);
    let key = ProbeKey::for_real(server.addr, &check);
    let (handle, shutdown, task) = start(
        [key.clone()].into_iter().collect(),
        SchedulerOptions::default(),
    );
    let mut rx = handle.subscribe();
    assert_eq!(rx.borrow().state(&key), Some(Status::Unknown));
    let slack = Duration::from_secs(1);
    let ms = Duration::from_millis;

    wait_state(&mut rx, &key, Status::Up, ms(interval + timeout) + slack).await;

    let addr = server.kill().await;
    let down_bound = ms(fall as u64 * interval + timeout) + slack;
    let took = wait_state(&mut rx, &key, Status::Down, down_bound).await;
    // fall = 2: one refused connect is not enough.
    assert!(
        took >= ms((fall as u64 - 1) * interval - 50),
        "down after {took:?}"
    );
    let status = rx.borrow().status(&key).cloned().unwrap();
    assert_eq!(&*status.reason, "connect refused");

    let server = TcpServer::start(addr).await;
    let up_bound = ms(rise as u64 * interval + timeout) + slack;
    let took = wait_state(&mut rx, &key, Status::Up, up_bound).await;
    assert!(
        took >= ms((rise as u64 - 1) * interval - 50),
        "up after {took:?}"
    );
    server.kill().await;
    stop(shutdown, task).await;
}

/// An HTTP server answering 200 and 500 in turn.
async fn flapping_http() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                let status = if n.is_multiple_of(2) { 200 } else { 500 };
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                s.write_all(resp.as_bytes()).await.ok();
            });
        }
    });
    (addr, count)
}

/// Counts state changes of `key` over `period`.
async fn count_changes(
    handle: &meridian::health::HealthHandle,
    key: &ProbeKey,
    period: Duration,
) -> usize {
    let mut rx = handle.subscribe();
    let mut last = rx.borrow_and_update().state(key);
    let mut changes = 0;
    let deadline = Instant::now() + period;
    while let Ok(Ok(())) = tokio::time::timeout_at(deadline, rx.changed()).await {
        let now = rx.borrow_and_update().state(key);
        if now != last {
            changes += 1;
            last = now;
        }
    }
    changes
}

#[tokio::test]
async fn flapping_server_does_not_flap_with_rise2_fall2() {
    let http = |rise, fall| Check {
        kind: CheckKind::Http {
            https: false,
            method: HttpMethod::Get,
            path: "/".into(),
            host: None,
            expect: vec![200],
            body: None,
            tls_verify: true,
        },
        rise,
        fall,
        ..tcp_check(100, 300, rise, fall)
    };
    let (addr, count) = flapping_http().await;
    let steady = ProbeKey::for_real(addr, &http(2, 2));
    let (handle, shutdown, task) = start(
        [steady.clone()].into_iter().collect(),
        SchedulerOptions::default(),
    );
    let changes = count_changes(&handle, &steady, Duration::from_millis(2500)).await;
    let probes = count.load(Ordering::SeqCst);
    assert!(probes >= 15, "only {probes} probes ran");
    // Unknown -> first verdict, then nothing.
    assert_eq!(changes, 1, "rise=2/fall=2 flapped");
    stop(shutdown, task).await;

    // Control: with rise=1/fall=1 the same server does flap, so the test above can fail.
    let (addr, _) = flapping_http().await;
    let jumpy = ProbeKey::for_real(addr, &http(1, 1));
    let (handle, shutdown, task) = start(
        [jumpy.clone()].into_iter().collect(),
        SchedulerOptions::default(),
    );
    let changes = count_changes(&handle, &jumpy, Duration::from_millis(1500)).await;
    assert!(
        changes >= 5,
        "rise=1/fall=1 should flap, saw {changes} changes"
    );
    stop(shutdown, task).await;
}

#[tokio::test]
async fn views_only_on_change_and_reload_keeps_state() {
    let a = TcpServer::start(any_port().await).await;
    let b = TcpServer::start(any_port().await).await;
    let check = tcp_check(100, 300, 1, 1);
    let ka = ProbeKey::for_real(a.addr, &check);
    let kb = ProbeKey::for_real(b.addr, &check);
    let (handle, shutdown, task) = start(
        [ka.clone()].into_iter().collect(),
        SchedulerOptions::default(),
    );
    let mut rx = handle.subscribe();
    wait_state(&mut rx, &ka, Status::Up, Duration::from_secs(2)).await;
    let v1 = handle.view();
    // About ten more probes, all up: no new view.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let v2 = handle.view();
    assert_eq!(v2.generation(), v1.generation());

    // Reload adding B: A keeps its state and its `since`; B starts unknown.
    handle.set_targets([ka.clone(), kb.clone()].into_iter().collect());
    rx.changed().await.unwrap();
    let v3 = rx.borrow_and_update().clone();
    assert!(v3.generation() > v2.generation());
    assert!(!v3.same_index(&v2));
    assert_eq!(v3.state(&ka), Some(Status::Up));
    assert_eq!(v3.status(&ka).unwrap().since, v1.status(&ka).unwrap().since);
    assert!(matches!(
        v3.state(&kb),
        Some(Status::Unknown) | Some(Status::Up)
    ));
    wait_state(&mut rx, &kb, Status::Up, Duration::from_secs(2)).await;

    // Reload dropping A.
    handle.set_targets([kb.clone()].into_iter().collect());
    rx.changed().await.unwrap();
    let v4 = rx.borrow_and_update().clone();
    assert_eq!(v4.state(&ka), None);
    assert_eq!(v4.state(&kb), Some(Status::Up));
    // Generations only grow.
    let mut last = v4.generation();
    a.kill().await;
    b.kill().await;
    wait_state(&mut rx, &kb, Status::Down, Duration::from_secs(2)).await;
    assert!(rx.borrow().generation() > last);
    last = rx.borrow().generation();
    assert_eq!(handle.view().generation(), last);
    stop(shutdown, task).await;
}

#[tokio::test]
async fn start_state_counts_until_the_first_result() {
    let dead = TcpServer::start(any_port().await).await.kill().await;
    let mut check = tcp_check(100, 200, 1, 2);
    check.start = StartState::Up;
    let key = ProbeKey::for_real(dead, &check);
    let mut down_check = check.clone();
    down_check.start = StartState::Down;
    let mut other = dead;
    other.set_port(dead.port().wrapping_add(1).max(1));
    let key_down = ProbeKey::for_real(other, &down_check);
    let (handle, shutdown, task) = start(
        [key.clone(), key_down.clone()].into_iter().collect(),
        SchedulerOptions::default(),
    );
    // No result yet: the probe says unknown, the authority uses the start state.
    assert_eq!(handle.view().state(&key), Some(Status::Unknown));
    assert_eq!(real(&handle.view(), &key), Status::Up);
    assert_eq!(real(&handle.view(), &key_down), Status::Down);
    let mut rx = handle.subscribe();
    // The first result decides at once (fall = 2 does not apply to the first one).
    wait_state(&mut rx, &key, Status::Down, Duration::from_secs(2)).await;
    assert_eq!(real(&handle.view(), &key), Status::Down);

    // Added by a reload: no result yet, so its start state again.
    let mut third = dead;
    third.set_port(dead.port().wrapping_add(2).max(1));
    let key3 = ProbeKey::for_real(third, &check);
    handle.set_targets([key.clone(), key3.clone()].into_iter().collect());
    rx.changed().await.unwrap();
    assert_eq!(rx.borrow().state(&key3), Some(Status::Unknown));
    assert_eq!(real(&handle.view(), &key3), Status::Up);
    stop(shutdown, task).await;
}

#[tokio::test]
async fn overrides_apply_persist_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("health-state.json");
    let server = TcpServer::start(any_port().await).await;
    let check = tcp_check(100, 300, 1, 1);
    let key = ProbeKey::for_real(server.addr, &check);
    let ip = server.addr.ip();
    let options = SchedulerOptions {
        state_file: Some(state_file.clone()),
        ..SchedulerOptions::default()
    };
    let (handle, shutdown, task) = start([key.clone()].into_iter().collect(), options.clone());
    let mut rx = handle.subscribe();
    wait_state(&mut rx, &key, Status::Up, Duration::from_secs(2)).await;
    assert_eq!(dns(&handle.view(), "hq", ip), Status::Up);

    let site = OverrideTarget::Site("hq".into());
    assert_eq!(
        handle
            .set_override(site.clone(), cmd(OverrideState::Down))
            .await
            .unwrap(),
        None
    );
    let v = handle.view();
    assert_eq!(dns(&v, "hq", ip), Status::Down);
    assert_eq!(dns(&v, "dr", ip), Status::Up);
    assert!(
        std::fs::read_to_string(&state_file)
            .unwrap()
            .contains("\"hq\"")
    );

    let addr = OverrideTarget::Addr(ip);
    handle
        .set_override(addr.clone(), cmd(OverrideState::Drain))
        .await
        .unwrap();
    assert_eq!(dns(&handle.view(), "hq", ip), Status::Drain);
    assert_eq!(real(&handle.view(), &key), Status::Drain);
    assert_eq!(
        handle
            .clear_override(addr.clone(), "n1", "op")
            .await
            .unwrap(),
        Some(OverrideState::Drain)
    );
    assert_eq!(dns(&handle.view(), "hq", ip), Status::Down);
    assert_eq!(handle.list_overrides().len(), 1);
    // The target goes down; the state file keeps that for the next start.
    server.kill().await;
    wait_state(&mut rx, &key, Status::Down, Duration::from_secs(2)).await;
    stop(shutdown, task).await;

    // A restart reads the state file back: overrides, and the probe state before any probe.
    let (handle, shutdown, task) = start([key.clone()].into_iter().collect(), options);
    let restored = handle.view().status(&key).cloned().unwrap();
    assert_eq!(restored.state, Status::Down);
    assert!(
        restored.reason.starts_with("restored: "),
        "{}",
        restored.reason
    );
    assert!(restored.since.is_some());
    let list = handle.list_overrides();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].target.clone(), list[0].state),
        (site.clone(), OverrideState::Down)
    );
    stop(shutdown, task).await;

    // A state file that cannot be written: the override is refused and not applied.
    let bad = SchedulerOptions {
        state_file: Some(dir.path().join("missing-dir").join("state.json")),
        ..SchedulerOptions::default()
    };
    let (handle, shutdown, task) = start([key.clone()].into_iter().collect(), bad);
    let before = handle.view().generation();
    assert!(
        handle
            .set_override(site, cmd(OverrideState::Down))
            .await
            .is_err()
    );
    assert!(handle.list_overrides().is_empty());
    assert_eq!(handle.view().generation(), before);
    stop(shutdown, task).await;
}

/// A run-time override given now on node n1.
fn cmd(state: OverrideState) -> RuntimeOverride {
    RuntimeOverride {
        state: Some(state),
        author: "op".into(),
        reason: "test".into(),
        set_at_ms: meridian::health::statefile::unix_ms(std::time::SystemTime::now()),
        expires_ms: None,
        origin: "n1".into(),
    }
}

/// The authority's DNS verdict for `ip` as a default-link address of `site`.
fn dns(view: &HealthView, site: &str, ip: std::net::IpAddr) -> Status {
    let t = DnsTarget {
        site: site.into(),
        link: "default".into(),
        addr: ip,
    };
    dns_table(&[t], view, &|_| None, None).get(0).status
}

/// The authority's verdict for the real server probed by `key`.
fn real(view: &HealthView, key: &ProbeKey) -> Status {
    let service = meridian::config::VirtualKey::Fwmark {
        fwmark: 1,
        ipv6: false,
    };
    let t = RealTarget {
        service,
        real: key.addr,
        probe: Some(key.clone()),
    };
    real_table(&[t], view).get(&service, &key.addr).status
}
