//! The cluster in the running server (`[cluster]`): what this node tells the others and what
//! it takes from them.
//!
//! ```text
//!  prober (every result) ---- Observer ----------------> set_observation (probe id)
//!  director VipState ---------------------------------- > set_vip ("TCP 203.0.113.10:80")
//!  override commands (HealthView) --------------------- > set_override (learned ones too)
//!  ClusterView (peers) --- newer override commands ----> HealthHandle::merge_overrides
//!                      --- vantage, peer directors ----> health::Authority (ClusterFeed)
//! ```
//! A node republishes the commands it learned with their origin, so an override reaches a
//! node that was down when it was given even if its setter is gone, and every node persists
//! it in its own state file. Answering never waits for any of this.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cluster::{
    Cluster, ClusterHandle, ClusterKey, ClusterView, Observation, OverrideEntry, ProbeState,
    Report, Role, VipStatus,
};
use crate::config::{self, Config, OverrideTarget};
use crate::health::overrides::RuntimeOverride;
use crate::health::{self, HealthHandle, HealthView, Observer, ProbeKey, ProbeStatus};
use crate::lvs::{self, VipState};

use super::ServeError;

/// This node's role from its configuration.
pub fn role(cfg: &Config) -> Role {
    match (&cfg.lvs, cfg.services.is_empty()) {
        (Some(_), true) => Role::Director,
        (Some(_), false) => Role::Both,
        (None, _) => Role::Dns,
    }
}

/// A digest of what decides answers: the configuration as loaded, without what differs
/// between nodes by design (the node's name and addresses, its own files' paths), plus the
/// contents of the zone files, geo databases and ISP CIDR files (FNV-1a 64). Two nodes with
/// the same digest answer alike.
pub fn digest(cfg: &Config) -> String {
    let mut shared = cfg.clone();
    shared.source = Default::default();
    shared.server.listen.clear();
    shared.server.admin = None;
    shared.server.admin_token_file = Default::default();
    shared.server.udp_threads = 0;
    shared.server.udp_receive_buffer = None;
    shared.health.state_file = None;
    shared.cluster = None;
    let mut files = Vec::new();
    files.extend(cfg.server.zone_files.iter().cloned());
    files.extend(cfg.geo.city.iter().cloned());
    files.extend(cfg.geo.asn.iter().cloned());
    for isp in cfg.isps.values() {
        files.extend(isp.cidr_files.iter().cloned());
    }
    // Paths are node-specific too: the contents count, in configuration order.
    shared.server.zone_files.clear();
    shared.geo = Default::default();
    for isp in shared.isps.values_mut() {
        isp.cidr_files.clear();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(format!("{shared:?}").as_bytes());
    // Streamed in pieces: a whole large zone read at once would leave its size of freed
    // heap resident at the top of this thread's arena (see `release_free_memory`).
    let mut piece = vec![0u8; 64 << 10];
    for f in &files {
        feed(&[0xff]);
        let read = std::fs::File::open(f).and_then(|mut file| {
            use std::io::Read;
            loop {
                let n = file.read(&mut piece)?;
                if n == 0 {
                    return Ok(());
                }
                feed(&piece[..n]);
            }
        });
        if read.is_err() {
            feed(b"unreadable");
        }
    }
    format!("{h:016x}")
}

/// The probe observer that publishes every result.
pub fn observer(handle: ClusterHandle) -> Observer {
    Observer(Arc::new(move |key: &ProbeKey, st: &ProbeStatus| {
        let state = match st.state {
            health::Status::Up => ProbeState::Up,
            health::Status::Down => ProbeState::Down,
            health::Status::Unknown | health::Status::Drain | health::Status::Full => return,
        };
        handle.set_observation(
            key.id(),
            Observation {
                state,
                since_ms: st.since.map_or(0, instant_ms),
                reason: st.reason.to_string(),
            },
        );
    }))
}

/// Unix milliseconds of a monotonic instant.
fn instant_ms(t: std::time::Instant) -> u64 {
    let now = tokio::time::Instant::now().into_std();
    health::statefile::unix_ms(SystemTime::now() - now.saturating_duration_since(t))
}

/// Starts gossip for `cfg` (which has `[cluster]`).
pub fn start(
    cfg: &Config,
    c: &config::Cluster,
    tasks: &mut JoinSet<&'static str>,
    shutdown: &CancellationToken,
) -> Result<ClusterHandle, ServeError> {
    let key = ClusterKey::load(&c.key_file).map_err(|e| ServeError::Cluster(e.to_string()))?;
    let report = Report::new(digest(cfg), role(cfg));
    let (handle, task) =
        Cluster::start(c, key, report).map_err(|e| ServeError::Cluster(e.to_string()))?;
    tracing::info!(node = %c.node, listen = %handle.local_addr(), seeds = c.seeds.len(), "cluster gossip started");
    let sd = shutdown.clone();
    tasks.spawn(async move {
        if let Err(e) = task.run(sd).await {
            tracing::error!(error = %e, "cluster gossip failed");
        }
        "cluster gossip"
    });
    Ok(handle)
}

/// Keeps this node's report and the prober's overrides in step with the cluster.
pub async fn sync(
    handle: ClusterHandle,
    probes: HealthHandle,
    mut vips: watch::Receiver<VipState>,
    sites: Arc<arc_swap::ArcSwap<Config>>,
    shutdown: CancellationToken,
) {
    let mut views = probes.subscribe();
    let mut peers = handle.subscribe();
    let mut vips_open = true;
    // VIP reports count as fresh on the other nodes only while they are confirmed.
    let mut confirm = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let view = views.borrow_and_update().clone();
        publish_overrides(&handle, &view);
        let peer_view = peers.borrow_and_update().clone();
        watch_peers(&handle, &peer_view);
        let cfg = sites.load_full();
        learn_overrides(&handle, &probes, &peer_view, &cfg).await;
        if vips_open {
            let v = vips.borrow_and_update().clone();
            publish_vips(&handle, &v);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            r = views.changed() => if r.is_err() { return },
            r = peers.changed() => if r.is_err() { return },
            r = vips.changed(), if vips_open => vips_open = r.is_ok(),
            _ = confirm.tick() => {}
        }
    }
}

/// A command as published: with its origin node filled in.
fn entry(c: &RuntimeOverride, node: &str) -> OverrideEntry {
    let mut e = c.clone();
    if e.origin.is_empty() {
        e.origin = node.to_owned();
    }
    e
}

/// Publishes every run-time command this node holds (its own and learned ones).
fn publish_overrides(handle: &ClusterHandle, view: &HealthView) {
    let own = handle.view().own.overrides.clone();
    for (target, c) in view.overrides().runtime() {
        let e = entry(c, handle.node());
        let key = target.to_string();
        if own.get(&key) != Some(&e) {
            handle.set_override(key, e);
        }
    }
}

/// Offers the prober every peer command newer than the one it holds.
async fn learn_overrides(
    handle: &ClusterHandle,
    probes: &HealthHandle,
    peers: &ClusterView,
    cfg: &Config,
) {
    let held = probes.view();
    let mut newer: BTreeMap<OverrideTarget, RuntimeOverride> = BTreeMap::new();
    for p in peers.peers.values() {
        for (t, e) in &p.overrides {
            let Ok(target) = config::parse_override_target(t, &cfg.sites) else {
                tracing::debug!(peer = %p.node, target = %t, "peer override names nothing here");
                continue;
            };
            let cmd = entry(e, &p.node);
            let is_newer = |cur: Option<&RuntimeOverride>| cur.is_none_or(|c| cmd.newer_than(c));
            if is_newer(held.overrides().runtime().get(&target)) && is_newer(newer.get(&target)) {
                newer.insert(target, cmd);
            }
        }
    }
    if newer.is_empty() {
        return;
    }
    if let Err(e) = probes.merge_overrides(newer.into_iter().collect()).await {
        tracing::warn!(node = %handle.node(), error = %e, "cannot take overrides from the cluster");
    }
}

/// Metrics, and one log line per divergence change.
fn watch_peers(handle: &ClusterHandle, view: &ClusterView) {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &crate::metrics::METRICS;
    let alive = view
        .peers
        .values()
        .filter(|p| p.liveness != crate::cluster::Liveness::Dead)
        .count();
    m.cluster_peers_alive.store(alive as u64, Relaxed);
    let divergent = view.divergent();
    let before = m
        .cluster_peers_divergent
        .swap(divergent.len() as u64, Relaxed);
    if divergent.len() as u64 != before {
        for (node, digest) in &divergent {
            tracing::warn!(peer = %node, peer_digest = digest.unwrap_or("none"), digest = %view.own.digest,
                "a peer runs a different configuration (answering is not affected)");
        }
        if divergent.is_empty() {
            tracing::info!("every live peer runs this node's configuration");
        }
    }
    let stats = handle.transport_stats();
    m.cluster_packets_rejected.store(stats.rejected(), Relaxed);
    m.cluster_packets_sent.store(stats.sent, Relaxed);
    m.cluster_packets_received.store(stats.received, Relaxed);
    m.cluster_bytes_sent.store(stats.bytes_sent, Relaxed);
    m.cluster_bytes_received
        .store(stats.bytes_received, Relaxed);
}

/// Publishes (and so confirms) the local director's VIP states.
fn publish_vips(handle: &ClusterHandle, vips: &VipState) {
    let own = handle.view().own.vips.clone();
    let mut seen = Vec::new();
    for (key, up) in &vips.services {
        let name = lvs::key_display(key);
        let load = vips.load.get(key).copied().unwrap_or_default();
        let status = VipStatus {
            quorum: if *up {
                ProbeState::Up
            } else {
                ProbeState::Down
            },
            healthy_weight: load.healthy_weight,
            total_weight: load.total_weight,
            active_conns: load.active_conns,
            conn_rate: load.conn_rate,
            capacity: load.capacity,
            full: load.full,
        };
        handle.set_vip(name.clone(), status);
        seen.push(name);
    }
    for name in own.keys().filter(|n| !seen.contains(n)) {
        handle.remove_vip(name);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest_ignores_what_differs_between_nodes_by_design() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/meridian.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let a = crate::config::parse(&text, &path).unwrap();
        let mut b = a.clone();
        b.server.listen = vec!["127.0.0.9:53".parse().unwrap()];
        b.server.admin = Some("127.0.0.9:8053".parse().unwrap());
        assert_eq!(super::digest(&a), super::digest(&b));
        let mut c = a.clone();
        if let Some(s) = c.services.values_mut().next() {
            s.ttl += 1;
        }
        assert_ne!(
            super::digest(&a),
            super::digest(&c),
            "a policy change must show"
        );
    }
}
