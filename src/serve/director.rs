//! The IPVS director inside `serve`: its task, fed the `[lvs]` configuration and the health
//! authority's real-server table, publishing VIP states and its status.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Lvs;
use crate::health::RealTable;
use crate::lvs;

/// Inputs of the IPVS reconciler, when `[lvs]` is configured.
pub(super) struct LvsInputs {
    pub config: watch::Sender<Arc<Lvs>>,
    pub health: watch::Sender<Arc<RealTable>>,
}

/// Spawn the director task (an end of it is fatal to `serve`, like any long-lived task).
pub(super) fn start(
    l: &Lvs,
    first: Arc<RealTable>,
    out: lvs::Outputs,
    tasks: &mut tokio::task::JoinSet<&'static str>,
    shutdown: &CancellationToken,
) -> LvsInputs {
    let (config_tx, config_rx) = watch::channel(Arc::new(l.clone()));
    let (health_tx, health_rx) = watch::channel(first);
    let sd = shutdown.clone();
    tasks.spawn(async move {
        if let Err(e) = lvs::run(config_rx, health_rx, out, sd).await {
            tracing::error!(error = %e, "IPVS director failed");
        }
        "IPVS director"
    });
    LvsInputs {
        config: config_tx,
        health: health_tx,
    }
}
