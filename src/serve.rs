//! The long-running server: load the policy and zones, start DNS (and the admin endpoint),
//! reload on SIGHUP, stop on SIGTERM/SIGINT.
//!
//! A reload builds a complete new [`Snapshot`] off the query path and swaps it in with one
//! atomic store. An invalid policy file refuses the whole reload; a broken zone file keeps
//! serving that zone's previous contents while the other zones update.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigError};
use crate::dns::{self, DnsServer, LoadError, ZoneSet};
use crate::metrics::{METRICS, inc};
use crate::policy::{Compiled, HealthView, PolicyError};
use crate::state::{SharedState, Snapshot};

/// Why `serve` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
    #[error("admin token file {}: {source}", path.display())]
    Token {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Load zones and compile the policy for `cfg`. Zones that fail keep their contents from
/// `prev` when it had them; a policy that cannot be compiled (an unreadable database, a bad
/// CIDR file) fails the whole build.
pub fn build_snapshot(
    cfg: &Config,
    prev: Option<&Snapshot>,
) -> Result<(Snapshot, Vec<LoadError>), PolicyError> {
    let policy = if cfg.services.is_empty() {
        None
    } else {
        Some(Arc::new(Compiled::new(cfg)?))
    };
    let (mut zones, errors) = dns::load_zones(&cfg.server.zone_files);
    if let Some(prev) = prev {
        carry_over(&mut zones, &prev.zones, &errors);
    }
    METRICS
        .zones_loaded
        .store(zones.len() as u64, Ordering::Relaxed);
    METRICS
        .zones_failed
        .store(errors.len() as u64, Ordering::Relaxed);
    let mut snapshot = Snapshot::new(zones, cfg.server.max_udp_payload);
    snapshot.query_log = cfg.server.query_log;
    if let Some(policy) = policy {
        let (health, unknown) = HealthView::from_overrides(&policy, &cfg.overrides);
        for o in unknown {
            tracing::warn!(target = ?o.target, "override names nothing the policy uses");
        }
        snapshot = snapshot.with_policy(policy, Arc::new(health));
    }
    Ok((snapshot, errors))
}

fn carry_over(zones: &mut ZoneSet, prev: &ZoneSet, errors: &[LoadError]) {
    for e in errors {
        let file = match e {
            LoadError::File(f) => &f.file,
            LoadError::Zone { file, .. } => file,
        };
        let Ok(origin) = dns::zone::origin_from_path(file) else {
            continue;
        };
        let lower = dns::name::lowered(&origin.0);
        if let Some(old) = prev.find(&lower).filter(|z| z.origin == lower) {
            tracing::warn!(zone = %dns::name::to_text(&lower), "keeping the previous contents of the zone");
            zones.insert(old.clone());
        }
    }
}

fn log_zone_errors(errors: &[LoadError], when: &str) {
    for e in errors {
        tracing::error!("{when}: zone refused: {e}");
    }
}

/// The admin token: read from the file, or created there with a random value.
fn admin_token(path: &Path) -> Result<String, ServeError> {
    let err = |source| ServeError::Token {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let token: String = (0..32)
        .map(|_| format!("{:x}", rand::random::<u8>() & 0xf))
        .collect();
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    std::io::Write::write_all(&mut f, token.as_bytes()).map_err(err)?;
    Ok(token)
}

/// The running process's shared pieces.
struct Server {
    path: PathBuf,
    cfg: Arc<arc_swap::ArcSwap<Config>>,
    state: SharedState,
    generation: Arc<AtomicU64>,
}

impl Server {
    fn reload(&self) {
        let cfg = match config::load(&self.path) {
            Ok(c) => c,
            Err(e) => {
                inc(&METRICS.reloads_failed);
                match &e {
                    ConfigError::Invalid(diags) => {
                        for d in diags {
                            tracing::error!(
                                "reload refused, keeping the running configuration: {d}"
                            );
                        }
                    }
                    ConfigError::Read { .. } => {
                        tracing::error!("reload refused, keeping the running configuration: {e}")
                    }
                }
                return;
            }
        };
        if cfg.server.listen != self.cfg.load().server.listen {
            tracing::warn!(
                "reload: [server] listen changed; new addresses take effect at the next restart"
            );
        }
        let prev = self.state.load_full();
        let (snapshot, errors) = match build_snapshot(&cfg, Some(&prev)) {
            Ok(x) => x,
            Err(e) => {
                inc(&METRICS.reloads_failed);
                tracing::error!("reload refused, keeping the running configuration: {e}");
                return;
            }
        };
        log_zone_errors(&errors, "reload");
        self.state.store(Arc::new(snapshot));
        self.cfg.store(Arc::new(cfg));
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        METRICS
            .config_generation
            .store(generation, Ordering::Relaxed);
        inc(&METRICS.reloads_ok);
        tracing::info!(
            generation,
            zones = prev.zones.len(),
            refused = errors.len(),
            "reloaded"
        );
    }

    fn status(&self) -> serde_json::Value {
        let cfg = self.cfg.load();
        let snap = self.state.load();
        let zones: Vec<serde_json::Value> = snap
            .zones
            .zones
            .iter()
            .map(|z| serde_json::json!({"zone": dns::name::to_text(&z.origin), "names": z.nodes.len()}))
            .collect();
        let services: Vec<serde_json::Value> = cfg
            .services
            .iter()
            .map(|(id, s)| serde_json::json!({"service": id, "name": s.fqdn, "sites": s.sites.join(" "), "ttl": s.ttl}))
            .collect();
        serde_json::json!({
            "config": cfg.source.display().to_string(),
            "generation": self.generation.load(Ordering::Relaxed),
            "zones": zones,
            "services": services,
        })
    }
}

/// Serve until `shutdown` is cancelled or a SIGTERM/SIGINT arrives.
pub async fn run(path: &Path, shutdown: CancellationToken) -> Result<(), ServeError> {
    let cfg = config::load(path)?;
    let (snapshot, errors) = build_snapshot(&cfg, None)?;
    log_zone_errors(&errors, "start");
    let state = crate::state::shared(snapshot);
    let dns = match cfg.server.udp_threads {
        0 => DnsServer::start(&cfg.server.listen, state.clone(), shutdown.clone())?,
        n => DnsServer::start_with_threads(&cfg.server.listen, state.clone(), shutdown.clone(), n)?,
    };
    let server = Arc::new(Server {
        path: path.to_path_buf(),
        cfg: Arc::new(arc_swap::ArcSwap::from_pointee(cfg.clone())),
        state,
        generation: Arc::new(AtomicU64::new(1)),
    });
    METRICS.config_generation.store(1, Ordering::Relaxed);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = cfg.server.admin {
        let token = admin_token(&cfg.server.admin_token_file)?;
        let s = server.clone();
        let st = crate::admin::AdminState {
            token,
            status: Box::new(move || s.status()),
            overrides: None,
        };
        let admin = crate::admin::Admin::bind(addr, Arc::new(st)).await?;
        tracing::info!(addr = %admin.local_addr().unwrap_or(addr), "admin endpoint listening");
        tasks.spawn(admin.run(shutdown.clone()));
    }
    let listen: Vec<String> = dns.local_addrs().iter().map(ToString::to_string).collect();
    tracing::info!(config = %path.display(), listen = %listen.join(" "), zones = server.state.load().zones.len(), "serving");

    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).map_err(ServeError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                let s = server.clone();
                // Loading zones is file I/O and CPU: keep it off the async workers.
                if let Err(e) = tokio::task::spawn_blocking(move || s.reload()).await {
                    tracing::error!(error = %e, "reload task failed");
                }
            }
        }
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
    Ok(())
}
