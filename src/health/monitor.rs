//! Monitors: the I/O shells that run one probe and turn what happened into a [`ProbeResult`].
//!
//! A [`Monitor`] is built once per probe task from its [`ProbeKey`] and then called every
//! interval. Kinds: `tcp` (a connect; closed with RST so the prober keeps no TIME_WAIT),
//! `http`/`https` (reqwest, in `monitor/http.rs`), `dns` (one UDP query, in `monitor/dns.rs`) and `exec`
//! (an external command in its own process group, killed with the group on timeout).
//! Every probe is bounded by the check's timeout; the reason string says what failed.

mod dns;
mod http;

use std::io::ErrorKind;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::config::CheckKind;

use super::HealthError;
use super::state::ProbeResult;
use super::targets::ProbeKey;

pub use http::HttpClients;

/// A ready-to-run probe for one key.
#[derive(Debug)]
pub struct Monitor {
    key: ProbeKey,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Tcp,
    Http(http::HttpProbe),
    Dns(dns::DnsProbe),
    Exec(Vec<String>),
}

impl Monitor {
    /// Prepares the probe; HTTP clients come from `clients` (shared) unless the check needs
    /// its own (an https check with a Host name, for SNI).
    pub fn new(key: ProbeKey, clients: &HttpClients) -> Result<Monitor, HealthError> {
        let kind = match &key.check.kind {
            CheckKind::Tcp => Kind::Tcp,
            CheckKind::Http { .. } => Kind::Http(http::HttpProbe::new(&key, clients)?),
            CheckKind::Dns { .. } => Kind::Dns(dns::DnsProbe::new(&key)?),
            CheckKind::Exec { command } => {
                if command.is_empty() {
                    return Err(HealthError::Check {
                        key: key.to_string(),
                        message: "exec check without a command".into(),
                    });
                }
                Kind::Exec(command.clone())
            }
        };
        Ok(Monitor { key, kind })
    }

    pub fn key(&self) -> &ProbeKey {
        &self.key
    }

    /// Runs one probe, never longer than the check's timeout (plus the kill of an exec child).
    pub async fn probe(&self) -> ProbeResult {
        // Shell code: measuring the probe needs the clock (paused tokio time in tests).
        let start = tokio::time::Instant::now();
        let timeout = self.key.check.timeout;
        let outcome = match &self.kind {
            Kind::Exec(command) => exec(command, &self.key, timeout).await,
            kind => match tokio::time::timeout(timeout, self.probe_inner(kind)).await {
                Ok(r) => r,
                Err(_) => Err(timeout_reason(timeout)),
            },
        };
        let elapsed = start.elapsed();
        match outcome {
            Ok(reason) => ProbeResult::up(reason, elapsed),
            Err(reason) => ProbeResult::down(reason, elapsed),
        }
    }

    async fn probe_inner(&self, kind: &Kind) -> Result<String, String> {
        match kind {
            Kind::Tcp => tcp(&self.key).await,
            Kind::Http(p) => p.probe(&self.key).await,
            Kind::Dns(p) => p.probe(&self.key).await,
            Kind::Exec(_) => Err("exec probe run without its timeout".into()),
        }
    }
}

pub(crate) fn timeout_reason(timeout: Duration) -> String {
    format!("timeout {}ms", timeout.as_millis())
}

/// A short reason for a failed connect.
pub(crate) fn io_reason(what: &str, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => format!("{what} refused"),
        ErrorKind::ConnectionReset => format!("{what} reset"),
        ErrorKind::TimedOut => format!("{what} timed out"),
        _ => format!("{what}: {e}"),
    }
}

async fn tcp(key: &ProbeKey) -> Result<String, String> {
    let stream = TcpStream::connect(key.addr)
        .await
        .map_err(|e| io_reason("connect", &e))?;
    // Close with RST: thousands of probes a second must not leave TIME_WAIT sockets here.
    if let Err(e) = stream.set_zero_linger() {
        tracing::debug!(target_addr = %key.addr, error = %e, "cannot set zero linger");
    }
    Ok("connected".into())
}

async fn exec(command: &[String], key: &ProbeKey, timeout: Duration) -> Result<String, String> {
    let Some((program, args)) = command.split_first() else {
        return Err("exec check without a command".into());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("MERIDIAN_TARGET", key.addr.to_string())
        .env("MERIDIAN_TARGET_ADDR", key.addr.ip().to_string())
        .env("MERIDIAN_TARGET_PORT", key.addr.port().to_string())
        // The service manager's socket is the server's own (sd_notify): not a check's.
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Own group: on timeout the whole group (a shell and its children) is killed.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("spawn {program}: {e}"))?;
    // Kills the group if this future is dropped mid-run (reload, shutdown) or times out.
    let mut group = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(waited) => {
            // Reaped: the pid may be reused from now on, so never signal it again.
            group.0 = None;
            match waited {
                Ok(status) if status.success() => Ok("exit 0".into()),
                Ok(status) => Err(match status.code() {
                    Some(code) => format!("exit {code}"),
                    None => format!("{status}"),
                }),
                Err(e) => Err(format!("wait: {e}")),
            }
        }
        Err(_) => {
            group.kill();
            if let Err(e) = child.kill().await {
                tracing::debug!(error = %e, "exec child already gone");
            }
            Err(timeout_reason(timeout))
        }
    }
}

/// The process group of an exec child, killed on drop unless disarmed.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: kill(2) with a negative pid signals the process group created with
            // process_group(0), whose leader we have not reaped yet; it touches no memory.
            let rc = unsafe { libc::kill(-pgid, libc::SIGKILL) };
            if rc != 0 {
                tracing::debug!(pgid, error = %std::io::Error::last_os_error(), "kill of exec group");
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
