//! The LVS director: Meridian's own IPVS generic-netlink client, the kernel-state dump, the
//! pure desired-vs-actual diff and the reconciler that applies it.
//!
//! ```text
//!  config [lvs] + RealTable --desired()--> Desired ---+
//!                                                      +--diff()--> Plan { ops } --apply--> kernel
//!  kernel ----------------------Ipvs::dump()--> Table --+
//! ```
//! [`codec`], [`desired()`], [`drain`], [`diff()`], [`sync`], [`status`] and [`show`] are plain
//! functions tested on bytes and values; [`netlink`] and [`client`] are the socket shell;
//! [`reconcile`] applies plans (IPVS table, drains, sync daemons) and [`run`](fn@run) is the loop (config
//! or health change, every `resync`, every second while a drain waits).

pub mod client;
pub mod codec;
pub mod desired;
pub mod diff;
pub mod drain;
pub mod kthread;
pub mod model;
pub mod netlink;
pub mod reconcile;
pub mod run;
pub mod show;
pub mod status;
pub mod sync;

pub use client::{Ipvs, Operation, key_display};
pub use desired::{Desired, DesiredService, VipLoad, VipState, desired, vip_up};
pub use diff::{Op, Plan, diff};
pub use kthread::KernelThread;
pub use model::{Dest, DestConf, Service, ServiceConf, Stats, Table, Timeouts};
pub use reconcile::{Reconciler, Report};
pub use run::{Open, Outputs, run, run_on};
pub use status::DirectorStatus;

use netlink::NlError;

/// Why an IPVS operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LvsError {
    #[error(
        "IPVS is not available in this kernel: the generic netlink family \"IPVS\" does not \
         exist (load the ip_vs module: modprobe ip_vs)"
    )]
    NotAvailable,
    #[error("{op}: permission denied: IPVS needs CAP_NET_ADMIN (run as root)")]
    PermissionDenied { op: Operation },
    #[error("{op}: scheduler \"{name}\" is not available in this kernel (no ip_vs_{name} module)")]
    UnknownScheduler { op: Operation, name: String },
    #[error("{op}: {} (errno {errno})", std::io::Error::from_raw_os_error(*.errno))]
    Kernel { op: Operation, errno: i32 },
    #[error("{op}: malformed reply from the kernel: {cause}")]
    Decode {
        op: Operation,
        cause: codec::DecodeError,
    },
    #[error("{0}: the kernel sent no reply")]
    Empty(Operation),
    #[error("netlink socket: {cause}")]
    Socket { cause: Box<NlError> },
    #[error("{op}: {cause}")]
    Io { op: Operation, cause: Box<NlError> },
    #[error("reconciler task failed: {0}")]
    Task(String),
}

impl LvsError {
    fn from_nl(e: NlError, op: Operation) -> Self {
        match e {
            NlError::Errno(libc::EPERM) | NlError::Errno(libc::EACCES) => {
                LvsError::PermissionDenied { op }
            }
            NlError::Errno(errno) => LvsError::Kernel { op, errno },
            NlError::Decode(cause) => LvsError::Decode { op, cause },
            e @ NlError::Io { .. } => LvsError::Io {
                op,
                cause: Box::new(e),
            },
        }
    }

    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LvsError::Kernel { errno, .. } => Some(*errno),
            LvsError::PermissionDenied { .. } => Some(libc::EPERM),
            LvsError::UnknownScheduler { .. } => Some(libc::ENOENT),
            _ => None,
        }
    }
}
