//! The admin endpoint: HTTP/1.1 on hyper, on a loopback address, serving the status page,
//! `/status`, `/metrics`, the override API and `POST /reload`.
//!
//! [`Admin::run`] accepts connections under caps in total and per client prefix
//! (`[server] admin_max_connections`, `admin_max_per_prefix`) and hands each to `conn`,
//! which owns the protocol limits (head and body size, deadlines, keep-alive). What each
//! path answers and who may ask is in [`routes`]; what the server exposes to it is behind
//! the traits of [`api`].

pub mod api;
mod conn;
pub mod message;
pub mod page;
pub mod routes;

pub use api::{
    AdminRead, AdminState, BoxFuture, OverrideApi, OverrideMeta, ReloadApi, ReloadOutcome,
};
pub use conn::{MAX_BODY, MAX_HEAD};
pub use message::{Request, Response};
pub use routes::handle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::AdminSettings;
use crate::netlimit::Limiter;

/// Errors of the admin endpoint.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin endpoint: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound admin listener; [`Admin::run`] serves it until shutdown.
pub struct Admin {
    listener: TcpListener,
    state: Arc<AdminState>,
    settings: AdminSettings,
}

impl Admin {
    pub async fn bind(addr: SocketAddr, state: Arc<AdminState>) -> Result<Admin, AdminError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        Ok(Admin {
            listener,
            state,
            settings: AdminSettings::default(),
        })
    }

    /// Connection caps and deadline (`[server] admin_*`); the defaults otherwise.
    pub fn with_settings(mut self, settings: AdminSettings) -> Admin {
        self.settings = settings;
        self
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let limiter = Limiter::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                a = self.listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let slot = match limiter.admit(peer.ip(), &self.settings.limits) {
                Ok(slot) => slot,
                Err(why) => {
                    tracing::warn!(%peer, "admin connection refused: {why}");
                    continue;
                }
            };
            let state = self.state.clone();
            let timeout = self.settings.timeout;
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = conn::serve(stream, state, timeout) => {}
                }
                drop(slot);
            });
        }
    }
}

#[cfg(test)]
mod tests;
