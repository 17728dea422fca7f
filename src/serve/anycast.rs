//! Wiring of `[anycast]` into the running server: the BFD responder and the anycast task
//! as long-lived tasks, the status they publish, the reloaded `[anycast]` they follow, and
//! the SIGTERM drain (withdraw or demote first, keep answering for `drain`, then stop).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::signal::unix::Signal;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ServeError, Server};
use crate::anycast::bfd::Responder;
use crate::anycast::{AnycastStatus, Task, TaskInputs};
use crate::config::Anycast;
use crate::privilege::RunAs;

/// The running anycast pieces `serve` keeps.
pub(super) struct Running {
    pub status: watch::Receiver<Arc<AnycastStatus>>,
    stopping: watch::Sender<Option<Instant>>,
    /// `[anycast]` as last reloaded (the drain period is read from it at SIGTERM).
    config: watch::Receiver<Arc<Anycast>>,
}

/// The channel a reload sends `[anycast]` on.
pub(super) fn config_channel(
    cfg: &Anycast,
) -> (watch::Sender<Arc<Anycast>>, watch::Receiver<Arc<Anycast>>) {
    watch::channel(Arc::new(cfg.clone()))
}

pub(super) fn start(
    cfg: &Anycast,
    config: watch::Receiver<Arc<Anycast>>,
    server: &Arc<Server>,
    listen: &[SocketAddr],
    run_as: Option<&RunAs>,
    tasks: &mut tokio::task::JoinSet<&'static str>,
    shutdown: &CancellationToken,
) -> Result<Running, ServeError> {
    let bfd = match cfg.bfd {
        Some(b) => {
            let r = Responder::bind(b)?;
            let stats = r.stats.clone();
            let sd = shutdown.clone();
            tracing::info!(addr = %b.addr, "BFD responder listening (anycast fate-sharing)");
            tasks.spawn(async move {
                r.run(sd).await;
                "BFD responder"
            });
            Some(stats)
        }
        None => None,
    };
    let (stopping, stopping_rx) = watch::channel(None);
    let inputs = TaskInputs {
        published: server.published.clone(),
        vips: server.vips.clone(),
        state: server.state.clone(),
        listen: listen.to_vec(),
        stopping: stopping_rx,
        config: config.clone(),
    };
    let (task, status) = Task::new(cfg.clone(), inputs, bfd, run_as.cloned());
    let sd = shutdown.clone();
    tasks.spawn(async move {
        task.run(sd).await;
        "anycast"
    });
    Ok(Running {
        status,
        stopping,
        config,
    })
}

impl Running {
    /// After SIGTERM: the anycast task withdraws (or demotes) at once; DNS keeps answering
    /// for the drain period, or until a SIGINT or another stop cuts it short.
    pub(super) async fn drain(&self, shutdown: &CancellationToken, int: &mut Signal) {
        self.stopping.send_replace(Some(Instant::now()));
        let drain = self.config.borrow().drain;
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "anycast: withdrawing, answering until the drain period ends"
        );
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            () = shutdown.cancelled() => {}
            _ = int.recv() => tracing::info!("SIGINT: cutting the drain period short"),
        }
    }
}
