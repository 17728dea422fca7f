//! What the admin endpoint can see of and do to the running server: the status document,
//! the override operations and the reload, behind small traits so that this module knows
//! nothing of DNS, health or IPVS internals. Every operation that waits is async: a handler
//! never blocks a runtime worker.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

/// A boxed future, for the object-safe traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The override operations the admin API exposes.
pub trait OverrideApi: Send + Sync {
    fn list(&self) -> Value;
    fn set<'a>(
        &'a self,
        target: &'a str,
        state: &'a str,
        meta: &'a OverrideMeta,
    ) -> BoxFuture<'a, Result<(), String>>;
    fn clear<'a>(&'a self, target: &'a str, author: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

/// Who sets an override, why and for how long (all optional in the request).
#[derive(Debug, Clone, Default)]
pub struct OverrideMeta {
    pub author: String,
    pub reason: String,
    /// `expires_in`, e.g. "30m".
    pub expires_in: Option<String>,
}

/// A reload of the policy file, the same as SIGHUP.
pub trait ReloadApi: Send + Sync {
    /// Runs one reload (after any already under way) and reports its outcome.
    fn reload(&self) -> BoxFuture<'_, ReloadOutcome>;
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration is in force. Zones listed in `zone_errors` were refused and
    /// keep serving their previous contents.
    Applied {
        generation: u64,
        digest: String,
        /// Unix time of the load, in milliseconds.
        loaded_at_ms: u64,
        zone_errors: Vec<String>,
    },
    /// The configuration was refused (every problem, each with file:line:column and key);
    /// the running configuration stays.
    Refused(Vec<String>),
    /// The server cannot reload now (stopping).
    Unavailable(String),
}

/// Who may read `/status` and `/metrics` (`[server] admin_read`).
pub use crate::config::AdminRead;

/// What the admin endpoint serves from.
pub struct AdminState {
    /// Bearer token required for every state-changing call (and reads with
    /// `admin_read = "token"`).
    pub token: String,
    pub read: AdminRead,
    /// A JSON status document (configuration, sites, links, addresses, services, LVS, ...).
    pub status: Box<dyn Fn() -> Value + Send + Sync>,
    pub overrides: Option<Box<dyn OverrideApi>>,
    pub reload: Option<Box<dyn ReloadApi>>,
}
