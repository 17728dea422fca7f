//! Cluster gossip over real UDP on 127.0.0.1: membership, propagation time, a node with another
//! key, a stopped node, and tampered or junk datagrams. Every node binds port 0.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use meridian::cluster::{
    Cluster, ClusterHandle, ClusterKey, Liveness, Observation, ProbeState, Report, Role,
};
use meridian::config;
use tokio_util::sync::CancellationToken;

struct Node {
    handle: ClusterHandle,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), meridian::cluster::ClusterError>>,
}

impl Node {
    fn start(name: &str, key: &ClusterKey, seeds: &[SocketAddr]) -> Node {
        let cfg = config::Cluster {
            node: name.to_string(),
            listen: "127.0.0.1:0".parse().unwrap(),
            seeds: seeds.to_vec(),
            key_file: Default::default(),
            vantage: config::Vantage::default(),
            gossip_interval: config::Cluster::DEFAULT_GOSSIP_INTERVAL,
        };
        let (handle, task) =
            Cluster::start(&cfg, key.clone(), Report::new("digest-1", Role::Dns)).unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(task.run(stop.clone()));
        Node { handle, stop, task }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    fn sees(&self, peer: &str, liveness: Liveness) -> bool {
        self.handle
            .view()
            .peers
            .get(peer)
            .is_some_and(|p| p.liveness == liveness)
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Poll `cond` every 10 ms until it holds; the time it took, or None after `limit`.
async fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// Three nodes joined through one seed, all alive to each other.
async fn trio(key: &ClusterKey) -> [Node; 3] {
    let a = Node::start("a", key, &[]);
    let b = Node::start("b", key, &[a.addr()]);
    let c = Node::start("c", key, &[a.addr()]);
    let nodes = [a, b, c];
    let names = ["a", "b", "c"];
    let took = within(Duration::from_secs(10), || {
        nodes.iter().zip(names).all(|(n, me)| {
            names
                .iter()
                .filter(|p| **p != me)
                .all(|p| n.sees(p, Liveness::Alive))
        })
    })
    .await;
    let took = took.unwrap_or_else(|| {
        let views: Vec<_> = nodes.iter().map(|n| n.handle.view()).collect();
        panic!("the three nodes did not all see each other alive in 10 s: {views:#?}")
    });
    println!("3 nodes, one seed: all alive to each other after {took:?}");
    nodes
}

fn down(reason: &str) -> Observation {
    Observation {
        state: ProbeState::Down,
        since_ms: 1_700_000_000_000,
        reason: reason.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_join_and_a_report_change_reaches_the_others_within_2s() {
    let key = ClusterKey::generate();
    let [a, b, c] = trio(&key).await;
    assert_eq!(
        b.handle.view().peers["a"].digest.as_deref(),
        Some("digest-1")
    );
    assert_eq!(b.handle.view().peers["c"].role, Some(Role::Dns));

    let target = "tcp 192.0.2.10:80";
    let t0 = Instant::now();
    a.handle.set_observation(target, down("connect refused"));
    let seen = |n: &Node| {
        n.handle.view().peers["a"]
            .observations
            .get(target)
            .is_some_and(|o| o.value == down("connect refused"))
    };
    let took = within(Duration::from_secs(5), || seen(&b) && seen(&c)).await;
    let took = took.expect("the observation never reached both other nodes");
    println!(
        "observation set on a: visible on b and c after {:?}",
        t0.elapsed()
    );
    assert!(took < Duration::from_secs(2), "propagation took {took:?}");

    // The other nodes now hold the target down by the vantage rule only when enough agree.
    let rule = config::Vantage::default();
    let now = Instant::now();
    let v = b.handle.view().decide(target, &rule, now);
    assert_eq!(
        v.verdict,
        meridian::cluster::Verdict::Down,
        "{}",
        v.explanation
    );
    b.handle.set_observation(
        target,
        Observation {
            state: ProbeState::Up,
            ..down("ok")
        },
    );
    c.handle.set_observation(
        target,
        Observation {
            state: ProbeState::Up,
            ..down("ok")
        },
    );
    within(Duration::from_secs(5), || {
        a.handle
            .view()
            .peers
            .values()
            .all(|p| p.observations.contains_key(target))
    })
    .await
    .expect("b's and c's observations reach a");
    let v = a.handle.view().decide(target, &rule, Instant::now());
    assert_eq!(
        v.verdict,
        meridian::cluster::Verdict::Up,
        "{}",
        v.explanation
    );
    println!("{}", v.explanation);

    for n in [a, b, c] {
        let s = n.handle.transport_stats();
        assert!(s.sent > 0 && s.received > 0, "{s:?}");
        assert_eq!(s.rejected(), 0, "{s:?}");
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_key_never_appears_and_its_packets_are_counted() {
    let key = ClusterKey::generate();
    let [a, b, c] = trio(&key).await;
    let intruder = Node::start("intruder", &ClusterKey::generate(), &[a.addr(), b.addr()]);
    let before = a.handle.transport_stats().rejected_bad_tag;
    let counted = within(Duration::from_secs(5), || {
        a.handle.transport_stats().rejected_bad_tag >= before + 3
    })
    .await;
    assert!(counted.is_some(), "{:?}", a.handle.transport_stats());
    // Two more seconds of chances to get in.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in [&a, &b, &c] {
        let view = n.handle.view();
        assert!(!view.peers.contains_key("intruder"), "{view:#?}");
        assert_eq!(view.peers.len(), 2);
    }
    assert!(intruder.handle.view().peers.is_empty());
    // a cannot read its SYNs, so never answers: nothing reaches the intruder.
    assert_eq!(intruder.handle.transport_stats().received, 0);
    println!(
        "a's counters with an intruder sending to it: {:?}",
        a.handle.transport_stats()
    );
    for n in [a, b, c, intruder] {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_is_marked_dead_within_a_bound() {
    let key = ClusterKey::generate();
    let [a, b, c] = trio(&key).await;
    c.stop().await;
    let t0 = Instant::now();
    let suspect = within(Duration::from_secs(10), || {
        a.sees("c", Liveness::Suspect) || a.sees("c", Liveness::Dead)
    })
    .await;
    let dead = within(Duration::from_secs(10), || {
        a.sees("c", Liveness::Dead) && b.sees("c", Liveness::Dead)
    })
    .await;
    let dead = dead.unwrap_or_else(|| panic!("c not dead after 10 s: {:#?}", a.handle.view()));
    println!(
        "c stopped: suspect on a after {:?}, dead on a and b after {:?}",
        suspect,
        t0.elapsed()
    );
    assert!(dead < Duration::from_secs(6), "{dead:?}");
    assert!(a.sees("b", Liveness::Alive) && b.sees("a", Liveness::Alive));
    for n in [a, b] {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_junk_datagrams_change_nothing_and_are_counted() {
    let key = ClusterKey::generate();
    let a = Node::start("a", &key, &[]);
    let b = Node::start("b", &key, &[a.addr()]);
    within(Duration::from_secs(10), || {
        a.sees("b", Liveness::Alive) && b.sees("a", Liveness::Alive)
    })
    .await
    .expect("a and b join");

    // A genuine sealed datagram: a third node with the right key gossips to a socket of ours.
    let sniffer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let x = Node::start("x", &key, &[sniffer.local_addr().unwrap()]);
    let mut buf = vec![0u8; 65536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sniffer.recv_from(&mut buf))
        .await
        .expect("x gossips to its seed")
        .unwrap();
    x.stop().await;
    let genuine = buf[..n].to_vec();

    let view_before = a.handle.view();
    let before = a.handle.transport_stats();
    for i in [1, 10, n / 2, n - 1] {
        let mut bad = genuine.clone();
        bad[i] ^= 0x40;
        sniffer.send_to(&bad, a.addr()).await.unwrap();
    }
    let mut wrong_version = genuine.clone();
    wrong_version[0] = 2;
    let junk: Vec<Vec<u8>> = vec![
        vec![],
        b"hello".to_vec(),
        vec![1; 40],
        wrong_version,
        vec![0xff; 300],
        // Starts with 0: a bad version.
        (0..1400u32).map(|i| (i * 7919 % 251) as u8).collect(),
    ];
    for j in &junk {
        sniffer.send_to(j, a.addr()).await.unwrap();
    }
    let after = within(Duration::from_secs(3), || {
        let s = a.handle.transport_stats();
        s.rejected() >= before.rejected() + 4 + junk.len() as u64
    })
    .await;
    let s = a.handle.transport_stats();
    assert!(
        after.is_some(),
        "not all counted: before {before:?}, after {s:?}"
    );
    assert!(
        s.rejected_too_short >= before.rejected_too_short + 3,
        "{s:?}"
    );
    assert!(
        s.rejected_bad_version >= before.rejected_bad_version + 3,
        "{s:?}"
    );
    assert!(s.rejected_bad_tag >= before.rejected_bad_tag + 4, "{s:?}");
    println!("a's counters after tampering: {s:?}");

    // Nothing changed: same peers, no junk values, and gossip still works.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let view = a.handle.view();
    assert_eq!(
        view.peers.keys().collect::<Vec<_>>(),
        view_before.peers.keys().collect::<Vec<_>>()
    );
    assert_eq!(view.junk_values, 0);
    assert!(a.sees("b", Liveness::Alive));
    b.handle
        .set_observation("addr:192.0.2.1", down("after the attack"));
    within(Duration::from_secs(2), || {
        a.handle.view().peers["b"]
            .observations
            .contains_key("addr:192.0.2.1")
    })
    .await
    .expect("gossip still flows after tampering");
    for n in [a, b] {
        n.stop().await;
    }
}
