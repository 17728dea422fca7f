//! ExaBGP's process API: ExaBGP starts Meridian (`process ... { run meridian serve ...; }`),
//! reads commands from the process's standard output and, with `exabgp.api.ack = true` (the
//! default since 4.0), answers each with a line `done` or `error` on its standard input.
//!
//! Meridian does not use those pipes itself: at start it spawns its relay (the same binary,
//! `meridian exabgp-relay`, see [`super::relay`]), which inherits them, and talks to it over
//! a socket pair: commands one way, ExaBGP's acknowledgements back, and a heartbeat every
//! quarter of `exabgp_watchdog` from a task of its own. The relay withdraws for Meridian when
//! the heartbeats stop (SIGSTOP, a hang) or the socket closes (kill -9). Logs go to standard
//! error, so standard output carries only commands.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::AnycastError;
use super::decide::Route;
use super::relay::HEARTBEAT;
use super::relay::shell::{EXIT_EXABGP_CLOSED, MERIDIAN_FD};
use crate::config::AnycastPrefix;
use crate::privilege;

/// How long an acknowledgement may take.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest line read from the relay.
const MAX_LINE: usize = 4096;

/// The command for `route` (None: nothing to send, e.g. a demotion without attributes).
pub fn command(p: &AnycastPrefix, route: Route) -> String {
    let base = format!("route {} next-hop {}", p.prefix, p.next_hop);
    match (route, &p.demote) {
        (Route::Announce, _) | (Route::Demote, None) => format!("announce {base}"),
        (Route::Withdraw, _) => format!("withdraw {base}"),
        (Route::Demote, Some(d)) => {
            let mut s = format!("announce {base}");
            if let Some(med) = d.med {
                s.push_str(&format!(" med {med}"));
            }
            if !d.as_path_prepend.is_empty() {
                let path: Vec<String> = d.as_path_prepend.iter().map(u32::to_string).collect();
                s.push_str(&format!(" as-path [ {} ]", path.join(" ")));
            }
            if !d.community.is_empty() {
                s.push_str(&format!(" community [ {} ]", d.community.join(" ")));
            }
            s
        }
    }
}

/// The link to the running relay.
struct Link {
    child: tokio::process::Child,
    lines: mpsc::Sender<String>,
    acks: mpsc::Receiver<String>,
}

/// Commands through the relay, acknowledgements back.
pub struct Exabgp {
    watchdog: Duration,
    /// `[server] user`'s (uid, gid): a relay started while Meridian is still root runs as
    /// that account.
    run_as: Option<(u32, u32)>,
    link: Option<Link>,
    /// ExaBGP closed the pipes: no relay is started again.
    closed: bool,
}

fn err(message: String) -> AnycastError {
    AnycastError::Exabgp { message }
}

impl Exabgp {
    /// Starts the relay (again at the next command if this fails).
    pub fn start(watchdog: Duration, run_as: Option<(u32, u32)>) -> Exabgp {
        let mut x = Exabgp {
            watchdog,
            run_as,
            link: None,
            closed: false,
        };
        if let Err(e) = x.link() {
            tracing::error!(error = %e, "ExaBGP relay not started; retrying at the next command");
        }
        x
    }

    fn spawn(&self) -> Result<Link, AnycastError> {
        let (ours, theirs) =
            StdUnixStream::pair().map_err(|e| err(format!("socket pair for the relay: {e}")))?;
        let fd = theirs.as_raw_fd();
        // This binary by name (`ps` shows it as such); /proc/self/exe when it was replaced.
        let exe = std::env::current_exe()
            .ok()
            .filter(|p| p.exists())
            .unwrap_or_else(|| "/proc/self/exe".into());
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("--log-format")
            .arg(crate::cmd::log_format_arg())
            .arg("exabgp-relay")
            .arg("--watchdog")
            .arg(humantime::format_duration(self.watchdog).to_string())
            .stdin(std::process::Stdio::inherit())
            .stdout(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::inherit());
        // The first relay starts before `serve` leaves root (every socket is bound first); it
        // needs no privilege, so it runs as the configured account from its start: the child
        // sets its group and user before exec, and std clears the supplementary groups (the
        // relay gets none) and the capabilities go with the user. Relays started later
        // inherit the account Meridian itself then runs as.
        if let Some((uid, gid)) = self.run_as.filter(|_| privilege::is_root()) {
            cmd.uid(uid).gid(gid);
        }
        // SAFETY: between fork and exec only dup2 and fcntl run, both async-signal-safe; they
        // put the relay's end of the socket pair on descriptor 3 without close-on-exec.
        unsafe {
            cmd.pre_exec(move || {
                let r = if fd == MERIDIAN_FD {
                    libc::fcntl(fd, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, MERIDIAN_FD)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| err(format!("cannot start the relay: {e}")))?;
        drop(theirs);
        ours.set_nonblocking(true)
            .map_err(|e| err(format!("relay socket: {e}")))?;
        let stream = UnixStream::from_std(ours).map_err(|e| err(format!("relay socket: {e}")))?;
        let (read, mut write) = stream.into_split();
        let (lines, mut rx) = mpsc::channel::<String>(16);
        let beat = (self.watchdog / 4).max(Duration::from_millis(20));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(beat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let line = tokio::select! {
                    l = rx.recv() => match l { Some(l) => l, None => return },
                    _ = tick.tick() => HEARTBEAT.to_string(),
                };
                if write
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let (tx, acks) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut r = BufReader::new(read);
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line.len() > MAX_LINE => continue,
                    Ok(_) => {
                        if tx.send(line.trim().to_string()).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        tracing::info!(
            pid = child.id(),
            watchdog_ms = self.watchdog.as_millis() as u64,
            "ExaBGP relay started"
        );
        Ok(Link { child, lines, acks })
    }

    /// The running relay: started again when it ended, unless ExaBGP closed the pipes.
    fn link(&mut self) -> Result<&mut Link, AnycastError> {
        if self.closed {
            return Err(err("ExaBGP closed Meridian's pipes".into()));
        }
        if let Some(l) = &mut self.link {
            match l.child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    self.link = None;
                    if status.code() == Some(EXIT_EXABGP_CLOSED) {
                        self.closed = true;
                        tracing::warn!("ExaBGP closed Meridian's pipes: no more announcements");
                        return Err(err("ExaBGP closed Meridian's pipes".into()));
                    }
                    tracing::error!(%status, "the ExaBGP relay ended; starting it again");
                }
                Err(e) => return Err(err(format!("relay: {e}"))),
            }
        }
        if self.link.is_none() {
            self.link = Some(self.spawn()?);
        }
        self.link.as_mut().ok_or_else(|| err("no relay".into()))
    }

    /// Whether the relay still runs (ExaBGP itself cannot be asked what it carries).
    pub fn verify(&mut self) -> Result<(), AnycastError> {
        let running = self
            .link
            .as_mut()
            .is_some_and(|l| matches!(l.child.try_wait(), Ok(None)));
        if running {
            Ok(())
        } else {
            Err(err("the relay is not running".into()))
        }
    }

    pub async fn apply(&mut self, p: &AnycastPrefix, route: Route) -> Result<(), AnycastError> {
        let cmd = command(p, route);
        let link = self.link()?;
        // Acknowledgements of earlier commands that timed out are stale now.
        while link.acks.try_recv().is_ok() {}
        if link.lines.send(cmd.clone()).await.is_err() {
            self.link = None;
            return Err(err(format!("`{cmd}`: the relay is gone")));
        }
        match tokio::time::timeout(ACK_TIMEOUT, link.acks.recv()).await {
            Ok(Some(a)) if a == "done" => Ok(()),
            Ok(Some(a)) => Err(err(format!("`{cmd}`: ExaBGP answered {a:?}"))),
            Ok(None) => Err(err(format!("`{cmd}`: the relay closed the link"))),
            Err(_) => Err(err(format!(
                "`{cmd}`: no acknowledgement within {} s (is exabgp.api.ack off?)",
                ACK_TIMEOUT.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Demote;

    #[test]
    fn commands_as_exabgp_reads_them() {
        let mut p = AnycastPrefix {
            prefix: "2001:db8:53::/48".parse().unwrap(),
            bird_protocol: None,
            when: vec![],
            rise: 1,
            fall: 1,
            interval: Duration::from_secs(1),
            demote: None,
            disable_file: None,
            next_hop: "self".into(),
        };
        assert_eq!(
            command(&p, Route::Announce),
            "announce route 2001:db8:53::/48 next-hop self"
        );
        assert_eq!(
            command(&p, Route::Withdraw),
            "withdraw route 2001:db8:53::/48 next-hop self"
        );
        p.demote = Some(Demote {
            med: Some(200),
            as_path_prepend: vec![65001, 65001],
            community: vec!["65000:666".into()],
            bird_protocol: None,
        });
        assert_eq!(
            command(&p, Route::Demote),
            "announce route 2001:db8:53::/48 next-hop self med 200 as-path [ 65001 65001 ] community [ 65000:666 ]"
        );
    }
}
