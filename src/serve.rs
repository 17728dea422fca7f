//! The long-running server: load the policy and zones, start DNS, the prober and the admin
//! endpoint, reload on SIGHUP or `POST /reload`, stop on SIGTERM/SIGINT.
//!
//! A reload (`serve/reload.rs`) builds a complete new [`Snapshot`] off the query path and
//! swaps it in with one atomic store. An invalid policy file refuses the whole reload; a
//! broken zone file keeps serving that zone's previous contents while the other zones
//! update. Health changes re-project the prober's view onto the current snapshot (a shallow
//! copy).

mod anycast;
mod check;
mod cluster;
mod director;
mod glue;
mod notify;
mod privilege;
mod reload;
mod restart;
mod snapshot;
mod status;
pub mod token;

pub use check::{Checked, check};
pub use reload::Loaded;
pub use snapshot::{build_snapshot, offline_table, registry, with_health};

use check::{release_free_memory, tune_allocator};

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigError};
use crate::dns::{self, LoadError};
use crate::health::authority::ClusterFeed;
use crate::health::{
    Authority, HealthError, HealthHandle, Published, Registry, Scheduler, SchedulerOptions,
    TargetSet,
};
use crate::lvs::{self, VipState};
use crate::metrics::METRICS;
use crate::policy::PolicyError;
use crate::state::{SharedState, Snapshot};
use director::LvsInputs;

/// Why `serve` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("health checks: {0}")]
    Health(#[from] HealthError),
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
    #[error("admin token file {0}")]
    Token(#[from] token::TokenError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("task {0} ended unexpectedly")]
    TaskEnded(&'static str),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("anycast: {0}")]
    Anycast(#[from] crate::anycast::AnycastError),
    #[error("IPVS director: {0}")]
    Lvs(#[from] lvs::LvsError),
    #[error(transparent)]
    Privilege(#[from] crate::privilege::PrivilegeError),
    #[error("server.user = \"{user}\": after leaving root: {problems}")]
    Access { user: String, problems: String },
}

fn log_zone_errors(errors: &[LoadError], when: &str) {
    for e in errors {
        tracing::error!("{when}: zone refused: {e}");
    }
}

/// The running process's shared pieces.
struct Server {
    path: PathBuf,
    cfg: Arc<ArcSwap<Config>>,
    state: SharedState,
    probes: HealthHandle,
    /// The configuration in force: generation, digest, load time.
    loaded: ArcSwap<Loaded>,
    /// Serialises snapshot writers (reload, health feed); readers never take it.
    writer: Mutex<()>,
    /// The local director's VIP states (default: none when this node directs nothing).
    vips: watch::Receiver<VipState>,
    /// What the health authority resolves: replaced on reload.
    registry: watch::Sender<Arc<Registry>>,
    /// The authority's tables.
    published: watch::Receiver<Arc<Published>>,
    /// The last status changes the authority published (`changes` in `/status`).
    changes: watch::Receiver<Arc<crate::health::changes::ChangeLog>>,
    /// Inputs of the IPVS reconciler, when `[lvs]` is configured.
    lvs: Option<LvsInputs>,
    /// Gossip with the other nodes, when `[cluster]` is configured.
    gossip: Option<crate::cluster::ClusterHandle>,
    /// What the director knows (table, drains, load), when `[lvs]` is configured.
    director: watch::Receiver<Option<Arc<lvs::DirectorStatus>>>,
    /// The running anycast task's configuration, when `[anycast]` was set at the start.
    anycast: Option<watch::Sender<Arc<crate::config::Anycast>>>,
}

impl Server {
    /// Swap in a new snapshot; returns the one it replaces.
    fn store(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let _g = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.state.swap(Arc::new(snapshot))
    }

    /// Apply every table the health authority publishes: the DNS table to the snapshot in
    /// force (when it was computed for that snapshot's registration), the real-server table
    /// to the IPVS reconciler.
    async fn feed_health(self: Arc<Self>, shutdown: CancellationToken) {
        let mut rx = self.published.clone();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = rx.changed() => if changed.is_err() { return },
            }
            let published = rx.borrow_and_update().clone();
            let view = self.probes.view();
            let up = (0..view.index().len())
                .filter(|&i| view.status_at(i).is_some_and(|s| s.state.is_up()))
                .count();
            METRICS
                .health_targets_up
                .store(up as u64, Ordering::Relaxed);
            METRICS
                .health_targets_down
                .store((view.index().len() - up) as u64, Ordering::Relaxed);
            let _g = self
                .writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let cur = self.state.load();
            if !Arc::ptr_eq(&cur.registry, &published.registry) {
                continue;
            }
            if let Some(inputs) = &self.lvs {
                inputs.health.send_if_modified(|cur| {
                    let changed = **cur != *published.lvs;
                    if changed {
                        *cur = published.lvs.clone();
                    }
                    changed
                });
            }
            if let Some(next) = with_health(&cur, &published) {
                self.state.store(Arc::new(next));
            }
        }
    }
}

/// Serve until `shutdown` is cancelled or a SIGTERM/SIGINT arrives.
pub async fn run(path: &Path, shutdown: CancellationToken) -> Result<(), ServeError> {
    tune_allocator();
    let cfg = config::load(path)?;
    let targets = TargetSet::from_config(&cfg)?;
    // Every long-lived task; one that ends before shutdown is fatal.
    let mut tasks: tokio::task::JoinSet<&'static str> = tokio::task::JoinSet::new();
    let gossip = match &cfg.cluster {
        Some(c) => Some(cluster::start(&cfg, c, &mut tasks, &shutdown)?),
        None => None,
    };
    let (scheduler, probes) = Scheduler::new(
        targets,
        SchedulerOptions {
            state_file: cfg.health.state_file.clone(),
            configured_overrides: cfg.overrides.clone(),
            observer: gossip.clone().map(cluster::observer),
            ..SchedulerOptions::default()
        },
    )?;
    let (snapshot, errors) =
        build_snapshot(&cfg, None, Some((&probes.view(), &VipState::default())))?;
    log_zone_errors(&errors, "start");
    release_free_memory();
    let state = crate::state::shared(snapshot);
    // Bound now, served once root is left (below): queries wait in the kernel's queues.
    let dns_bound = dns::server::Bound::bind(
        &cfg.server.listen,
        cfg.server.udp_threads,
        cfg.server.udp_receive_buffer,
    )?;
    let dns_addrs = dns_bound.local_addrs();
    let (vip_tx, vip_rx) = watch::channel(VipState::default());
    let (registry_tx, registry_rx) = watch::channel(state.load().registry.clone());
    let feed = gossip
        .as_ref()
        .zip(cfg.cluster.as_ref())
        .map(|(g, c)| ClusterFeed {
            view: g.subscribe(),
            rule: c.vantage,
        });
    let (authority, published) =
        Authority::new(probes.subscribe(), vip_rx.clone(), registry_rx, feed);
    let changes = authority.changes();
    {
        let sd = shutdown.clone();
        tasks.spawn(async move {
            authority.run(sd).await;
            "health authority"
        });
    }
    let first_lvs = published.borrow().lvs.clone();
    let (status_tx, director) = watch::channel(None);
    let lvs_inputs = cfg
        .lvs
        .as_ref()
        .map(|l| {
            director::start(
                l,
                first_lvs,
                lvs::Outputs {
                    vip: vip_tx,
                    status: status_tx,
                },
                &mut tasks,
                &shutdown,
            )
        })
        .transpose()?;
    let anycast_cfg = cfg.anycast.as_ref().map(anycast::config_channel);
    let server = Arc::new(Server {
        path: path.to_path_buf(),
        cfg: Arc::new(ArcSwap::from_pointee(cfg.clone())),
        state,
        probes: probes.clone(),
        loaded: ArcSwap::from_pointee(Loaded::now(1, String::new())),
        writer: Mutex::new(()),
        vips: vip_rx,
        registry: registry_tx,
        published,
        changes,
        lvs: lvs_inputs,
        gossip: gossip.clone(),
        director,
        anycast: anycast_cfg.as_ref().map(|(tx, _)| tx.clone()),
    });
    if let Some(g) = gossip.clone() {
        let (p, v, c, sd) = (
            probes.clone(),
            server.vips.clone(),
            server.cfg.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            cluster::sync(g, p, v, c, sd).await;
            "cluster sync"
        });
    }
    METRICS.config_generation.store(1, Ordering::Relaxed);
    // The digest reads every zone file again: not on the way to serving.
    tokio::spawn({
        let (s, cfg) = (server.clone(), cfg.clone());
        async move {
            if let Ok(digest) = tokio::task::spawn_blocking(move || cluster::digest(&cfg)).await {
                s.loaded.rcu(|l| match l.generation {
                    1 => Arc::new(Loaded {
                        digest: digest.clone(),
                        ..(**l).clone()
                    }),
                    _ => l.clone(),
                });
            }
        }
    });
    let anycast = match (&cfg.anycast, anycast_cfg) {
        (Some(a), Some((_, rx))) => Some(anycast::start(
            a,
            rx,
            &server,
            &dns_addrs,
            cfg.server.run_as.as_ref(),
            &mut tasks,
            &shutdown,
        )?),
        _ => None,
    };
    tasks.spawn({
        let (s, sd) = (server.clone(), shutdown.clone());
        async move {
            s.feed_health(sd).await;
            "health feed"
        }
    });
    let mut reloads = glue::start_admin(
        &server,
        &cfg,
        anycast.as_ref().map(|a| a.status.clone()),
        &mut tasks,
        &shutdown,
    )
    .await?;
    // Every socket is bound (DNS, gossip, BFD, admin): leave root now.
    privilege::drop_privileges(&cfg, server.lvs.as_ref().map(|l| &l.kernel)).await?;
    // Probes start only now: an `exec` check's program must never run as root.
    {
        let sd = shutdown.clone();
        tasks.spawn(async move {
            match scheduler.run(sd).await {
                Ok(()) => {}
                Err(e) => tracing::error!(error = %e, "health prober failed"),
            }
            "health prober"
        });
    }
    let dns = dns_bound.serve(server.state.clone(), shutdown.clone())?;
    let listen: Vec<String> = dns.local_addrs().iter().map(ToString::to_string).collect();
    tracing::info!(config = %path.display(), listen = %listen.join(" "), zones = server.state.load().zones.len(), services = cfg.services.len(), "serving");

    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).map_err(ServeError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    notify::ready(&format!("serving on {}", listen.join(" ")));
    let mut failure = None;
    let mut told_stopping = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = term.recv() => {
                tracing::info!("SIGTERM: stopping");
                // Before the anycast drain, which may take its grace period.
                notify::stopping();
                told_stopping = true;
                if let Some(a) = &anycast {
                    a.drain(&shutdown, &mut int).await;
                }
                break;
            }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                let _ = notify::reload(server.reload()).await;
            }
            Some(reply) = next_reload(&mut reloads) => {
                let outcome = notify::reload(server.reload()).await;
                if reply.send(outcome).is_err() {
                    tracing::debug!("the reload's caller went away before its outcome");
                }
            }
            ended = tasks.join_next() => {
                let name = match ended {
                    Some(Ok(name)) => name,
                    Some(Err(_)) | None => "unknown",
                };
                tracing::error!(task = name, "a long-lived task ended unexpectedly: stopping");
                failure = Some(ServeError::TaskEnded(name));
                break;
            }
        }
    }
    if !told_stopping {
        notify::stopping();
    }
    shutdown.cancel();
    let drained = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        dns.join().await;
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("shutdown: some tasks did not stop within 5 s");
    }
    tracing::info!("stopped");
    failure.map_or(Ok(()), Err)
}

/// The next reload asked for over the admin API; never, without an admin endpoint.
async fn next_reload(
    rx: &mut Option<tokio::sync::mpsc::Receiver<reload::Ask>>,
) -> Option<reload::Ask> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
