//! Running Meridian as a system service, with the real tools (one test binary):
//! - `notify`: the sd_notify protocol against a notify socket the test binds, and logs
//!   without colour off a terminal;
//! - `units`: the systemd units in dist/ (`systemd-analyze verify` and `security`, the
//!   capabilities, the system-call filter against an strace of the server);
//! - `identity`: NSID and CH TXT `id.server` with `dig`;
//! - `package`: the Debian package (`scripts/build-deb.sh`, `dpkg-deb`, `lintian`).

#[path = "../support/dnsclient.rs"]
mod dnsclient;
#[path = "../support/node.rs"]
mod node;

mod identity;
mod notify;
mod package;
mod units;
