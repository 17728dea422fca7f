//! The IPVS director inside `serve`: its task, fed the `[lvs]` configuration and the health
//! authority's real-server table, publishing VIP states and its status. Its netlink calls
//! run on one thread (`lvs::KernelThread`), the only one that keeps `CAP_NET_ADMIN` when
//! the process leaves root (`serve/privilege.rs`). IPVS that cannot be opened (no `ip_vs`
//! module, no permission) is logged and retried; DNS keeps serving meanwhile.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Lvs;
use crate::health::RealTable;
use crate::lvs::{self, KernelThread};

/// Inputs of the IPVS reconciler, when `[lvs]` is configured.
pub(super) struct LvsInputs {
    pub config: watch::Sender<Arc<Lvs>>,
    pub health: watch::Sender<Arc<RealTable>>,
    /// The thread every IPVS call runs on.
    pub kernel: KernelThread,
}

/// Spawn the director task (an end of it is fatal to `serve`, like any long-lived task).
pub(super) fn start(
    l: &Lvs,
    first: Arc<RealTable>,
    out: lvs::Outputs,
    tasks: &mut tokio::task::JoinSet<&'static str>,
    shutdown: &CancellationToken,
) -> Result<LvsInputs, lvs::LvsError> {
    let (config_tx, config_rx) = watch::channel(Arc::new(l.clone()));
    let (health_tx, health_rx) = watch::channel(first);
    let kernel = KernelThread::spawn()?;
    let sd = shutdown.clone();
    let k = kernel.clone();
    tasks.spawn(async move {
        let r = lvs::run_on(&k, lvs::Open::Retry, config_rx, health_rx, out, sd).await;
        if let Err(e) = r {
            tracing::error!(error = %e, "IPVS director failed");
        }
        "IPVS director"
    });
    Ok(LvsInputs {
        config: config_tx,
        health: health_tx,
        kernel,
    })
}
