//! Meridian as a process (one test binary, run as root, against the binary
//! `MERIDIAN_BIN` names, else the one cargo built):
//! - `privilege`: started as root with `[server] user = "nobody"`, it binds (a port below
//!   1024 too), then runs as nobody with no capability, or with `CAP_NET_ADMIN` on its IPVS
//!   thread alone under `[lvs]`; DNS over UDP and TCP, the admin endpoint and SIGHUP still
//!   work; files it can no longer read and a non-root start as another user are refused;
//!   the ExaBGP relay it starts while still root, and every exec health check, run as
//!   nobody too;
//! - `pktinfo`: listening on `0.0.0.0` and `[::]` in a network namespace with two addresses
//!   of each family, every answer comes from the address queried (connected clients).

#![allow(clippy::disallowed_methods)] // a test harness measures wall time

#[path = "../support/dnsclient.rs"]
mod dnsclient;
#[path = "../support/netns.rs"]
mod netns;
#[path = "../support/node.rs"]
mod node;

mod pktinfo;
mod privilege;

/// A child process killed (and reaped) on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
