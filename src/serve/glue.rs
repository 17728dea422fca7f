//! The admin endpoint's view of the running server: the override API (async end to end,
//! over the prober's handle), the reload bridge, and starting the endpoint itself.

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::reload::{Ask, Reloader};
use super::status::{document, override_json};
use super::{ServeError, Server, token};
use crate::admin::{Admin, AdminState, BoxFuture, OverrideApi, OverrideMeta};
use crate::config::{self, Config, OverrideState};
use crate::health::HealthHandle;
use crate::health::overrides::RuntimeOverride;

/// Binds the admin endpoint (`[server] admin`) and spawns it; returns the reload requests
/// it will send, which the serve loop must answer.
pub(super) async fn start_admin(
    server: &Arc<Server>,
    cfg: &Config,
    anycast: Option<tokio::sync::watch::Receiver<Arc<crate::anycast::AnycastStatus>>>,
    tasks: &mut tokio::task::JoinSet<&'static str>,
    shutdown: &CancellationToken,
) -> Result<Option<mpsc::Receiver<Ask>>, ServeError> {
    let Some(addr) = cfg.server.admin else {
        return Ok(None);
    };
    let token = token::load_or_create(&cfg.server.admin_token_file)?;
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let s = server.clone();
    let st = AdminState {
        token,
        read: cfg.server.admin_read,
        status: Box::new(move || {
            let mut doc = document(&s);
            if let Some(a) = &anycast {
                doc["anycast"] = a.borrow().to_json();
            }
            doc
        }),
        overrides: Some(Box::new(Overrides {
            handle: server.probes.clone(),
            cfg: server.cfg.clone(),
            node: cfg
                .cluster
                .as_ref()
                .map(|c| c.node.clone())
                .unwrap_or_default(),
        })),
        reload: Some(Box::new(Reloader(reload_tx))),
    };
    let admin = Admin::bind(addr, Arc::new(st))
        .await?
        .with_settings(cfg.server.admin_conn);
    tracing::info!(addr = %admin.local_addr().unwrap_or(addr), "admin endpoint listening");
    let sd = shutdown.clone();
    tasks.spawn(async move {
        admin.run(sd).await;
        "admin endpoint"
    });
    Ok(Some(reload_rx))
}

/// The override API over the prober's handle; targets are checked against the live config.
pub struct Overrides {
    pub handle: HealthHandle,
    pub cfg: Arc<ArcSwap<Config>>,
    /// This node's name (`[cluster] node`), "" without a cluster.
    pub node: String,
}

impl Overrides {
    async fn set_one(&self, target: &str, state: &str, meta: &OverrideMeta) -> Result<(), String> {
        let target = config::parse_override_target(target, &self.cfg.load().sites)?;
        let state = OverrideState::parse(state)
            .ok_or_else(|| format!("`{state}` is not one of up, down, drain"))?;
        let now = crate::health::statefile::unix_ms(std::time::SystemTime::now());
        let expires_ms = match &meta.expires_in {
            None => None,
            Some(text) => {
                let d = humantime::parse_duration(text)
                    .map_err(|e| format!("expires_in `{text}`: {e}"))?;
                Some(now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
            }
        };
        let cmd = RuntimeOverride {
            state: Some(state),
            author: meta.author.chars().take(100).collect(),
            reason: meta.reason.chars().take(200).collect(),
            set_at_ms: now,
            expires_ms,
            origin: self.node.clone(),
        };
        self.handle
            .set_override(target.clone(), cmd)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(target = %target, state = state.as_str(), author = %meta.author, reason = %meta.reason, "override set");
        Ok(())
    }

    async fn clear_one(&self, target: &str, author: &str) -> Result<(), String> {
        let target = config::parse_override_target(target, &self.cfg.load().sites)?;
        match self
            .handle
            .clear_override(target.clone(), &self.node, author)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(_) => {
                tracing::info!(target = %target, author = %author, "override cleared");
                Ok(())
            }
            None => Err(format!("no run-time override on {target}")),
        }
    }
}

impl OverrideApi for Overrides {
    fn list(&self) -> Value {
        Value::Array(
            self.handle
                .list_overrides()
                .iter()
                .map(override_json)
                .collect(),
        )
    }

    fn set<'a>(
        &'a self,
        target: &'a str,
        state: &'a str,
        meta: &'a OverrideMeta,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.set_one(target, state, meta))
    }

    fn clear<'a>(&'a self, target: &'a str, author: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.clear_one(target, author))
    }
}
