//! Health checking: monitors, rise/fall state, the probe scheduler, overrides.
//!
//! ```text
//!  Config --TargetSet::from_config--> TargetSet (dedup (addr, check) pairs)
//!                                          |
//!  Scheduler::run  one task per ProbeKey: tick (random start offset) -> semaphore
//!        |         -> Monitor::probe (tcp/http/https/dns/exec, bounded by timeout)
//!        |         -> mpsc -> Health::observe(result, now) -> Option<Transition>
//!        v
//!  on a state change or an override change: Arc<HealthView> (generation + 1)
//!        published through tokio::sync::watch; DNS answering and the LVS reconciler read it
//! ```
//!
//! Owns: the pure rise/fall core ([`state`]), probe keys and the target set ([`targets`]),
//! the I/O monitors ([`monitor`]), the immutable read snapshot ([`view`]), operator overrides
//! and their state file ([`overrides`]), the ring of recent status changes ([`changes`]), and
//! the task that ties them together ([`scheduler`]) with its [`HealthHandle`]. Readers never lock: they hold an `Arc<HealthView>`.

pub mod authority;
pub mod changes;
mod handle;
pub mod monitor;
pub mod overrides;
pub mod scheduler;
pub mod state;
pub mod statefile;
pub mod targets;
pub mod verdict;
pub mod view;

use std::net::IpAddr;
use std::path::PathBuf;

pub use authority::{
    Authority, DnsTarget, Published, RealTable, RealTarget, Registry, VipReport, dns_table,
    real_table,
};
pub use handle::HealthHandle;
pub use monitor::{HttpClients, Monitor};
pub use overrides::Overrides;
pub use scheduler::{Observer, Scheduler, SchedulerOptions};
pub use state::{Health, ProbeResult, Transition};
pub use targets::{ProbeKey, TargetSet};
pub use verdict::{Evidence, Level, ProbeEvidence, Source, Status, Table, Verdict, resolve};
pub use view::{HealthView, ProbeIndex, ProbeStatus};

/// Everything that can go wrong in health checking.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("{addr}: the check has no port and its kind has no default port")]
    NoPort { addr: IpAddr },
    #[error("{key}: {message}")]
    Check { key: String, message: String },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error("{}: {source}", path.display())]
    StateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    StateFileFormat { path: PathBuf, message: String },
    #[error("a health probe task failed: {0}")]
    TaskFailed(String),
    #[error("the health scheduler is not running")]
    SchedulerGone,
}
