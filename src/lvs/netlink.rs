//! The generic netlink socket: a blocking `NETLINK_GENERIC` socket over libc with a receive
//! timeout, one request at a time, replies matched by sequence number. No IPVS knowledge here
//! beyond resolving a family id; the caller decodes the payloads. `realserver` opens the same
//! socket on `NETLINK_ROUTE`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::codec::{self, DecodeError, Message, Messages};

/// What a netlink exchange can fail with, before IPVS meaning is attached.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    #[error("{context}: {cause}")]
    Io {
        context: &'static str,
        cause: io::Error,
    },
    /// The kernel answered with this (positive) errno.
    #[error("kernel error {0}")]
    Errno(i32),
    #[error("malformed reply: {0}")]
    Decode(DecodeError),
}

impl From<DecodeError> for NlError {
    fn from(e: DecodeError) -> Self {
        NlError::Decode(e)
    }
}

fn last_os(context: &'static str) -> NlError {
    NlError::Io {
        context,
        cause: io::Error::last_os_error(),
    }
}

/// A bound `NETLINK_GENERIC` socket.
pub struct GenlSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl GenlSocket {
    /// Open and bind a socket in the caller's network namespace.
    pub fn open(timeout: Duration) -> Result<Self, NlError> {
        Self::open_protocol(libc::NETLINK_GENERIC, timeout)
    }

    /// The same socket for another netlink protocol (`NETLINK_ROUTE` for `realserver`); the
    /// exchange is the same, only the payloads differ.
    pub fn open_protocol(protocol: libc::c_int, timeout: Duration) -> Result<Self, NlError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            return Err(last_os("socket(AF_NETLINK)"));
        }
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `sa` lives across the call and the length matches its type.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_os("bind(netlink)"));
        }
        let tv = libc::timeval {
            tv_sec: timeout.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            tv_usec: timeout.subsec_micros().into(),
        };
        setsockopt(&fd, libc::SO_RCVTIMEO, &tv, "setsockopt(SO_RCVTIMEO)")?;
        // Large dumps (thousands of services) arrive faster than we read them.
        let size: libc::c_int = 4 << 20;
        setsockopt(&fd, libc::SO_RCVBUF, &size, "setsockopt(SO_RCVBUF)")?;
        Ok(Self {
            fd,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Resolve a generic netlink family id by name; `Errno(ENOENT)` when it does not exist.
    pub fn resolve_family(&mut self, name: &str) -> Result<u16, NlError> {
        let seq = self.next_seq();
        let req = codec::getfamily_request(name, seq);
        let mut id = None;
        self.exchange(&req, seq, false, &mut |payload| {
            let (_, attrs) = codec::genl_split(payload)?;
            id = Some(codec::parse_family_id(attrs)?);
            Ok(())
        })?;
        id.ok_or(NlError::Decode(DecodeError::Missing {
            what: "family",
            attr: codec::CTRL_ATTR_FAMILY_ID,
        }))
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Send one request and read its replies until the ACK/error (or, for a dump, `DONE`),
    /// handing every data payload (genl header included) to `each`.
    pub fn exchange(
        &mut self,
        req: &[u8],
        seq: u32,
        dump: bool,
        each: &mut dyn FnMut(&[u8]) -> Result<(), DecodeError>,
    ) -> Result<(), NlError> {
        // SAFETY: `req` is a valid buffer of the given length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if n < 0 {
            return Err(last_os("send(netlink)"));
        }
        loop {
            // SAFETY: `buf` is a valid, writable buffer of the given length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NlError::Io {
                    context: "recv(netlink)",
                    cause: e,
                });
            }
            let got = usize::try_from(n).unwrap_or(0);
            if let Some(result) = absorb(&self.buf[..got], seq, dump, each)? {
                return result;
            }
        }
    }
}

/// Reads one receive buffer of replies to request `seq`, handing every data payload to
/// `each`. `Ok(None)`: the request is not finished, read on; `Ok(Some(r))`: it is, with
/// `r` (the first decode failure, if any); `Err`: the kernel refused it or the buffer is
/// malformed. Pure, so the fuzzing harness drives it with arbitrary buffers.
pub fn absorb(
    buf: &[u8],
    seq: u32,
    dump: bool,
    each: &mut dyn FnMut(&[u8]) -> Result<(), DecodeError>,
) -> Result<Option<Result<(), NlError>>, NlError> {
    let mut finished = false;
    let mut failure = None;
    for m in Messages::new(buf) {
        match m? {
            Message::Data {
                seq: s, payload, ..
            } if s == seq && failure.is_none() => {
                if let Err(e) = each(payload) {
                    failure = Some(NlError::Decode(e));
                }
            }
            Message::Ack { seq: s } if s == seq => finished = true,
            Message::Error { seq: s, errno } if s == seq => {
                return Err(NlError::Errno(errno));
            }
            Message::Done { seq: s, errno } if s == seq => {
                if errno != 0 {
                    return Err(NlError::Errno(errno));
                }
                finished = true;
            }
            // Replies to an earlier, timed-out request.
            _ => {}
        }
    }
    if finished || (!dump && failure.is_some()) {
        return Ok(Some(failure.map_or(Ok(()), Err)));
    }
    Ok(None)
}

fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, v: &T, ctx: &'static str) -> Result<(), NlError> {
    // SAFETY: `v` points to a live value of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 { Err(last_os(ctx)) } else { Ok(()) }
}
