//! The command line's client of the running server's admin endpoint (`[server] admin`):
//! plain HTTP to a loopback address, never through a proxy, with the bearer token from
//! `[server] admin_token_file` (required for state-changing calls; sent with reads when the
//! file is readable, for servers with `admin_read = "token"`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::UsageError;
use crate::config::Config;

/// Why a call to the running server failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminCallError {
    /// Nothing answers at the address, or the exchange failed (exit 1).
    #[error("cannot reach the admin endpoint {addr}: {source} (is the server running?)")]
    Unreachable {
        addr: SocketAddr,
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("the server refused: {status}: {body}")]
    Refused {
        status: reqwest::StatusCode,
        body: String,
    },
}

/// A client of one server's admin endpoint.
pub struct AdminClient {
    addr: SocketAddr,
    /// The token, or why it could not be read.
    token: Result<String, String>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl AdminClient {
    /// For the server `cfg` describes; a usage error without `[server] admin`.
    pub fn new(cfg: &Config, timeout: Duration) -> anyhow::Result<AdminClient> {
        let addr = cfg.server.admin.ok_or_else(|| {
            UsageError(format!(
                "{}: [server] admin is not set, so the running server cannot be asked",
                cfg.source.display()
            ))
        })?;
        AdminClient::at(addr, &cfg.server.admin_token_file, timeout)
    }

    /// For the endpoint at `addr` with the token in `token_file`. The token is read now if
    /// it can be; calls that need it ask [`AdminClient::require_token`].
    pub fn at(
        addr: SocketAddr,
        token_file: &Path,
        timeout: Duration,
    ) -> anyhow::Result<AdminClient> {
        let token = crate::serve::token::read(token_file).map_err(|e| e.to_string());
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // the bearer token must never travel through `http_proxy`, even to loopback
            .no_proxy()
            // plain http to a loopback endpoint: no system CA roots needed (a minimal host
            // has none, and the default verifier refuses to build without them)
            .tls_certs_only([])
            .build()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(AdminClient {
            addr,
            token,
            http,
            rt,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Fails (exit 1, as when the server cannot be reached) when the token could not be
    /// read: the server creates the file when it starts.
    pub fn require_token(&self) -> anyhow::Result<()> {
        match &self.token {
            Ok(_) => Ok(()),
            Err(e) => Err(anyhow::anyhow!(
                "cannot use the admin token: {e} (is the server running?)"
            )),
        }
    }

    /// One call: `method` on `path` with an optional JSON body. Returns the status and the
    /// body; an error only when the server cannot be reached.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(reqwest::StatusCode, String), AdminCallError> {
        let url = format!("http://{}{path}", self.addr);
        let mut req = self.http.request(method, url);
        if let Ok(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let unreachable = |source| AdminCallError::Unreachable {
            addr: self.addr,
            source,
        };
        self.rt.block_on(async {
            let resp = req.send().await.map_err(unreachable)?;
            let status = resp.status();
            let text = resp.text().await.map_err(unreachable)?;
            Ok((status, text))
        })
    }

    /// `GET /status` as JSON.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self.call(reqwest::Method::GET, "/status", None)?;
        if !status.is_success() {
            return Err(AdminCallError::Refused {
                status,
                body: body.trim().to_owned(),
            }
            .into());
        }
        Ok(serde_json::from_str(&body)?)
    }
}

/// `GET /status` from the server `cfg` describes.
pub fn status(cfg: &Config) -> anyhow::Result<serde_json::Value> {
    AdminClient::new(cfg, Duration::from_secs(5))?.status()
}
