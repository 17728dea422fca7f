//! Anycast: health decides which prefixes this node announces; an existing BGP speaker
//! carries them.
//!
//! ```text
//!  health authority (Published) --+
//!  local director (VipState)     --+--> conditions::failing --> decide::Decider::step
//!  DNS self-query (selfcheck)    --+        (every `interval`)      | Route + why
//!  maintenance files, SIGTERM    --+                                v
//!                                                   backend: BIRD control socket (enable/
//!                                                   disable + read back) | ExaBGP process API
//!  bfd::Responder: answers BIRD's BFD sessions; its silence (kill -9, SIGSTOP) withdraws
//!  relay (child process, ExaBGP): withdraws when Meridian's heartbeats stop or it dies
//! ```
//!
//! Owns: the `[anycast]` decision core ([`decide`], pure), the condition judge
//! ([`conditions`], pure), the DNS self-query ([`selfcheck`]), the BIRD client ([`bird`]),
//! the ExaBGP process API ([`exabgp`]) and its relay process ([`relay`]), the BFD responder ([`bfd`]) the reload plan
//! ([`reload`], pure) and the task that ties them together ([`task`]). docs/anycast.md is the operator's side.

pub mod backend;
pub mod bfd;
pub mod bird;
pub mod conditions;
pub mod decide;
pub mod exabgp;
pub mod relay;
pub mod reload;
pub mod selfcheck;
pub mod status;
pub mod task;

pub use task::{AnycastStatus, Task, TaskInputs};

use std::path::PathBuf;

use ipnet::IpNet;

/// What can go wrong in anycast.
#[derive(Debug, thiserror::Error)]
pub enum AnycastError {
    #[error("BIRD control socket {}: {message}", socket.display())]
    Bird { socket: PathBuf, message: String },
    #[error("ExaBGP: {message}")]
    Exabgp { message: String },
    #[error("{prefix}: {message}")]
    Verify { prefix: IpNet, message: String },
    #[error("BFD responder: {0}")]
    Bfd(String),
}
