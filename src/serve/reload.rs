//! Reloading the policy file while serving: the same for SIGHUP and `POST /reload`.
//!
//! The new configuration, health targets and snapshot are built off the async workers; an
//! invalid policy file refuses the whole reload (every problem is reported, the running
//! configuration stays); a broken zone keeps serving its previous contents while the other
//! zones update. Reloads run one at a time, in the serve loop.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot};

use super::check::release_free_memory;
use super::{ServeError, Server, build_snapshot, cluster, log_zone_errors, restart};
use crate::admin::{BoxFuture, ReloadApi, ReloadOutcome};
use crate::config::{self, ConfigError};
use crate::health::TargetSet;
use crate::metrics::{self, METRICS, Reload};

/// The configuration in force: its generation (1 at start, +1 per reload), digest and
/// load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub generation: u64,
    /// `cluster::digest`: equal on two nodes that answer alike.
    pub digest: String,
    /// Unix time of the load, in milliseconds.
    pub at_ms: u64,
}

impl Loaded {
    pub(super) fn now(generation: u64, digest: String) -> Loaded {
        Loaded {
            generation,
            digest,
            at_ms: crate::health::statefile::unix_ms(SystemTime::now()),
        }
    }
}

impl Server {
    /// One reload; logs its outcome and reports it.
    pub(super) async fn reload(&self) -> ReloadOutcome {
        let path = self.path.clone();
        let probes = self.probes.view();
        let vips = self.vips.borrow().clone();
        let prev = self.state.load_full();
        let built = tokio::task::spawn_blocking(move || -> Result<_, ServeError> {
            let cfg = config::load(&path)?;
            let targets = TargetSet::from_config(&cfg)?;
            let (snapshot, errors) = build_snapshot(&cfg, Some(&prev), Some((&probes, &vips)))?;
            let digest = cluster::digest(&cfg);
            Ok((cfg, targets, snapshot, errors, digest))
        })
        .await;
        let (cfg, targets, snapshot, errors, digest) = match built {
            Ok(Ok(x)) => x,
            Ok(Err(ServeError::Config(ConfigError::Invalid(diags)))) => {
                metrics::reload(Reload::Invalid);
                for d in &diags {
                    tracing::error!("reload refused, keeping the running configuration: {d}");
                }
                return ReloadOutcome::Refused(diags.iter().map(ToString::to_string).collect());
            }
            Ok(Err(e)) => {
                metrics::reload(Reload::Failed);
                tracing::error!("reload refused, keeping the running configuration: {e}");
                return ReloadOutcome::Refused(vec![e.to_string()]);
            }
            Err(e) => {
                metrics::reload(Reload::Failed);
                tracing::error!(error = %e, "reload task failed");
                return ReloadOutcome::Unavailable(format!("the reload task failed: {e}"));
            }
        };
        log_zone_errors(&errors, "reload");
        restart::warn(&self.cfg.load(), &cfg);
        if let (Some(tx), Some(a)) = (&self.anycast, &cfg.anycast)
            && restart::anycast_reloadable(&self.cfg.load(), &cfg)
        {
            tx.send_if_modified(|cur| {
                let changed = **cur != *a;
                if changed {
                    *cur = Arc::new(a.clone());
                }
                changed
            });
        }
        if let Some(g) = &self.gossip {
            g.set_digest(digest.clone());
        }
        let zones = snapshot.zones.len();
        let registry = snapshot.registry.clone();
        let old = self.store(snapshot);
        // The authority recomputes both tables for the new registration; until then the
        // snapshot carries the table computed with it, and the director keeps its last one.
        self.registry.send_replace(registry);
        // Freeing a large zone takes a while: not on the async workers that serve TCP.
        tokio::task::spawn_blocking(move || {
            drop(old);
            release_free_memory();
        });
        match (&self.lvs, &cfg.lvs) {
            (Some(inputs), Some(l)) => {
                inputs.config.send_replace(Arc::new(l.clone()));
            }
            (None, None) => {}
            _ => {
                tracing::warn!("reload: adding or removing [lvs] takes effect at the next restart")
            }
        }
        self.probes.set_targets(targets);
        let overrides = cfg.overrides.clone();
        self.cfg.store(Arc::new(cfg));
        if let Err(e) = self.probes.set_configured_overrides(overrides).await {
            tracing::error!(error = %e, "reload: overrides not passed to the prober");
        }
        let loaded = Loaded::now(self.loaded.load().generation + 1, digest);
        METRICS
            .config_generation
            .store(loaded.generation, std::sync::atomic::Ordering::Relaxed);
        self.loaded.store(Arc::new(loaded.clone()));
        metrics::reload(Reload::Ok);
        tracing::info!(
            generation = loaded.generation,
            digest = %loaded.digest,
            zones,
            refused = errors.len(),
            "reloaded"
        );
        ReloadOutcome::Applied {
            generation: loaded.generation,
            digest: loaded.digest,
            loaded_at_ms: loaded.at_ms,
            zone_errors: errors.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A reload asked for over the admin API: the serve loop runs it and answers here.
pub(super) type Ask = oneshot::Sender<ReloadOutcome>;

/// The admin API's side of the reload: hands the request to the serve loop and waits.
pub(super) struct Reloader(pub mpsc::Sender<Ask>);

impl ReloadApi for Reloader {
    fn reload(&self) -> BoxFuture<'_, ReloadOutcome> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            if self.0.send(tx).await.is_err() {
                return ReloadOutcome::Unavailable("the server is stopping".into());
            }
            rx.await
                .unwrap_or_else(|_| ReloadOutcome::Unavailable("the server is stopping".into()))
        })
    }
}
