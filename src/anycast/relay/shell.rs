//! The relay process's I/O around [`super::Relay`]: ExaBGP's pipes are its standard input
//! and output (inherited from Meridian), Meridian's end of a socket pair is file descriptor
//! [`MERIDIAN_FD`]; one poll(2) loop, one thread, no runtime, so a hang of Meridian cannot
//! stall it. Each line to ExaBGP is one write(2) of a whole line.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::{Out, Relay};

/// Where Meridian's end of the socket pair is.
pub const MERIDIAN_FD: RawFd = 3;
/// The exit code when ExaBGP closed the relay's standard input (ExaBGP stopped, or it
/// dropped this process): Meridian does not start another relay then.
pub const EXIT_EXABGP_CLOSED: i32 = 3;
/// After Meridian is gone: how long to wait for the withdrawals' acknowledgements.
const GONE_WAIT: Duration = Duration::from_secs(1);
/// A longer line than this from either side is dropped.
const MAX_LINE: usize = 4096;

/// The relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(
        "file descriptor {MERIDIAN_FD} is not open: the relay is started by `meridian serve` with backend = \"exabgp\", not by hand"
    )]
    NoLink,
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
}

#[allow(clippy::disallowed_methods)] // the shell reads the clock; the core takes it
fn now() -> Instant {
    Instant::now()
}

/// Whole lines out of a byte stream; an overlong line is dropped up to its newline.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    skipping: bool,
}

impl Lines {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            if std::mem::take(&mut self.skipping) || line.len() > MAX_LINE {
                continue;
            }
            out.push(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        if self.buf.len() > MAX_LINE {
            self.buf.clear();
            self.skipping = true;
        }
        out
    }
}

/// Why the loop ends.
enum End {
    ExabgpClosed,
    Done,
}

struct Io {
    meridian: Option<UnixStream>,
    exabgp_out: File,
}

impl Io {
    fn apply(&mut self, out: Vec<Out>) -> Result<(), End> {
        for o in out {
            match o {
                Out::Exabgp(l) => {
                    // One write(2) of the whole line (well under PIPE_BUF).
                    if let Err(e) = self.exabgp_out.write_all(format!("{l}\n").as_bytes()) {
                        tracing::warn!(error = %e, "exabgp-relay: cannot write to ExaBGP");
                        return Err(End::ExabgpClosed);
                    }
                }
                Out::Meridian(l) => {
                    if let Some(m) = &mut self.meridian
                        && m.write_all(format!("{l}\n").as_bytes()).is_err()
                    {
                        // Meridian is going; the read side will say so.
                        tracing::debug!("exabgp-relay: acknowledgement not passed to Meridian");
                    }
                }
                Out::Log(l) => tracing::warn!("exabgp-relay: {l}"),
            }
        }
        Ok(())
    }
}

/// poll(2) on up to two descriptors; returns their revents.
fn wait(fds: [RawFd; 2], timeout: Duration) -> Result<[i16; 2], RelayError> {
    let mut p = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    let ms = i32::try_from(timeout.as_millis() + 1).unwrap_or(i32::MAX);
    // SAFETY: `p` is a valid array of two pollfd for the duration of the call.
    let n = unsafe { libc::poll(p.as_mut_ptr(), 2, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok([0, 0]);
        }
        return Err(RelayError::Io("poll", e));
    }
    Ok([p[0].revents, p[1].revents])
}

/// Acknowledgements already waiting on standard input answer an earlier process's lines
/// (ExaBGP answers after it respawned its process): read and drop them before starting.
fn drop_stale(stdin: &mut File) -> Result<usize, RelayError> {
    let mut dropped = 0;
    let mut buf = [0u8; 4096];
    for _ in 0..64 {
        let [r, _] = wait([stdin.as_raw_fd(), -1], Duration::ZERO)?;
        if r & libc::POLLIN == 0 {
            break;
        }
        match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => dropped += buf[..n].iter().filter(|b| **b == b'\n').count(),
        }
    }
    Ok(dropped)
}

/// Run the relay until Meridian is gone (exit 0) or ExaBGP closed the pipe
/// ([`EXIT_EXABGP_CLOSED`]).
pub fn run(watchdog: Duration) -> Result<i32, RelayError> {
    // SAFETY: fcntl(F_GETFD) on any number is harmless; it only says whether it is open.
    if unsafe { libc::fcntl(MERIDIAN_FD, libc::F_GETFD) } < 0 {
        return Err(RelayError::NoLink);
    }
    // SAFETY: descriptor 3 is open (checked above) and was set up for this process alone by
    // `meridian serve` (anycast::exabgp); nothing else in this process uses it.
    let link = unsafe { OwnedFd::from_raw_fd(MERIDIAN_FD) };
    let mut meridian = UnixStream::from(link);
    let dup = |what: &'static str, fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map(File::from)
            .map_err(|e| RelayError::Io(what, e))
    };
    let mut stdin = dup("standard input", std::io::stdin().as_fd())?;
    let exabgp_out = dup("standard output", std::io::stdout().as_fd())?;
    let stale = drop_stale(&mut stdin)?;
    if stale > 0 {
        tracing::info!(
            lines = stale,
            "exabgp-relay: dropped answers to an earlier process's lines"
        );
    }
    let reader = meridian
        .try_clone()
        .map_err(|e| RelayError::Io("socket", e))?;
    let mut io = Io {
        meridian: Some(reader),
        exabgp_out,
    };
    let mut relay = Relay::new(watchdog, now());
    let (mut from_meridian, mut from_exabgp) = (Lines::default(), Lines::default());
    let mut gone_since: Option<Instant> = None;
    let mut buf = [0u8; 8192];
    tracing::info!(
        watchdog_ms = watchdog.as_millis() as u64,
        "exabgp-relay: started"
    );
    let end = loop {
        let t = now();
        let mut deadline = relay.deadline();
        if let Some(g) = gone_since {
            deadline = deadline.min(g + GONE_WAIT);
        }
        let link_fd = if gone_since.is_some() {
            -1
        } else {
            meridian.as_raw_fd()
        };
        let [rin, rlink] = wait(
            [stdin.as_raw_fd(), link_fd],
            deadline.saturating_duration_since(t),
        )?;
        let t = now();
        let mut out = Vec::new();
        if rlink != 0 {
            match meridian.read(&mut buf) {
                Ok(0) | Err(_) => {
                    out.extend(relay.meridian_gone(t));
                    io.meridian = None;
                    gone_since = Some(t);
                }
                Ok(n) => {
                    for l in from_meridian.push(&buf[..n]) {
                        out.extend(relay.from_meridian(&l, t));
                    }
                }
            }
        }
        if rin != 0 {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    tracing::warn!("exabgp-relay: ExaBGP closed the pipe");
                    break End::ExabgpClosed;
                }
                Ok(n) => {
                    for l in from_exabgp.push(&buf[..n]) {
                        out.extend(relay.from_exabgp(&l));
                    }
                }
            }
        }
        out.extend(relay.tick(t));
        if let Err(end) = io.apply(out) {
            break end;
        }
        if let Some(g) = gone_since
            && (!relay.own_pending() || t >= g + GONE_WAIT)
        {
            break End::Done;
        }
    };
    Ok(match end {
        End::ExabgpClosed => EXIT_EXABGP_CLOSED,
        End::Done => 0,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_split_whole_and_overlong_ones_dropped() {
        let mut l = super::Lines::default();
        assert!(l.push(b"do").is_empty());
        assert_eq!(l.push(b"ne\nerror\r\nhb"), vec!["done", "error"]);
        assert_eq!(l.push(b"\n"), vec!["hb"]);
        let long = vec![b'x'; 5000];
        assert!(l.push(&long).is_empty());
        assert_eq!(l.push(b"y\ndone\n"), vec!["done"]);
    }
}
