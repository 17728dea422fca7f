//! The admin endpoint: a small HTTP/1.1 server on a loopback address that serves the status
//! page, `/metrics`, and the override API used by `meridian override`.
//!
//! The protocol handling here is deliberately minimal (one request per connection, bounded
//! header and body sizes, one deadline for the whole exchange, connection caps in total and
//! per client prefix); what each path answers lives in [`routes`].

pub mod http;
pub mod page;
pub mod routes;

pub use http::{Request, Response};
pub use routes::{AdminState, handle};

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
            let deadline = self.settings.timeout;
            tokio::spawn(async move {
                http::serve_one(stream, deadline, |req| handle(&state, req)).await;
                drop(slot);
            });
        }
    }
}

#[cfg(test)]
mod tests;
