//! The UDP fast path: one OS thread per socket (SO_REUSEPORT spreads queries over them),
//! each receiving a batch with `recvmmsg`, answering every query from one snapshot load,
//! and sending the batch with `sendmmsg`.
//!
//! Each thread owns its response rate limiter (`dns::rrl`): an answer to a client prefix
//! over its rate is dropped or slipped (a truncated reply, or BADCOOKIE) unless the query
//! carried a valid server cookie. TCP never passes here, so it is never limited.
//!
//! One batch in `TIME_EVERY` is timed, from the receive's return to the send's, into the
//! answer latency histogram (each of its answers counted with the batch's time).
//!
//! All buffers are allocated once per thread, so answering allocates nothing. A thread
//! blocks in `recvmmsg` without a timeout (a timed wait arms a kernel timer each time, and at
//! moderate load the thread waits before nearly every query); at shutdown [`wake`] shuts the
//! socket's receive side, which makes the blocked call return 0.
//!
//! A socket bound to a wildcard address (`0.0.0.0`, `::`) also receives each query's
//! destination address and answers from it (`dns::pktinfo`); one bound to an address does
//! not, and passes no control messages at all.

use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;

use crate::dns::answer::{self, Limited, Outcome, Transport};
use crate::dns::cookie::Verdict;
use crate::dns::observe;
use crate::dns::pktinfo;
use crate::dns::rrl::{self, Class, Decision};
use crate::metrics;
use crate::state::SharedState;
use crate::state::Snapshot;

/// Queries per `recvmmsg` batch.
const BATCH: usize = 32;
/// One receive batch in this many is timed for the answer latency histogram: a precise
/// clock read costs about 40 ns here, two per batch would add up to 8 % to a lone query.
const TIME_EVERY: u32 = 16;
/// Largest query accepted (longer datagrams are dropped).
const RECV_BUF: usize = 4096;
/// Kernel receive buffer asked for each socket by default (`[server] udp_receive_buffer`):
/// the kernel's default 208 KiB holds about 5 ms of queries at 50 000 per second, so a
/// serving thread descheduled for longer on a busy machine lost queries (the soak,
/// docs/reliability.md).
pub const DEFAULT_RCVBUF: usize = 4 << 20;

/// Binds one UDP socket with SO_REUSEPORT (and IPV6_V6ONLY for IPv6 addresses); on a
/// wildcard address, with the destination of each datagram reported (`dns::pktinfo`).
/// The receive buffer is `rcvbuf` bytes where the process may exceed `net.core.rmem_max`
/// (root, or `CAP_NET_ADMIN`: `SO_RCVBUFFORCE`), else as much of it as that limit allows.
pub fn bind(addr: SocketAddr, rcvbuf: usize) -> std::io::Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    if addr.ip().is_unspecified() {
        pktinfo::enable(&sock, addr.is_ipv6())?;
    }
    sock.set_reuse_port(true)?;
    // Best effort: a smaller buffer still serves (`bind_address` reports what was given).
    if force_recv_buffer(&sock, rcvbuf).is_err() {
        let _ = sock.set_recv_buffer_size(rcvbuf);
    }
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// `SO_RCVBUFFORCE`: the size asked for, above `net.core.rmem_max`; refused (EPERM)
/// without `CAP_NET_ADMIN`.
pub fn force_recv_buffer(sock: &Socket, bytes: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    pktinfo::setsockopt_int(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
}

/// Per-thread buffers, allocated once. `P`: a wildcard socket, which receives each query's
/// destination and answers from it (a constant, so that other sockets' code has no trace of it).
struct Buffers<const P: bool> {
    rx: Vec<[u8; RECV_BUF]>,
    tx: Vec<Vec<u8>>,
    names: [libc::sockaddr_storage; BATCH],
    name_lens: [libc::socklen_t; BATCH],
    iov: [libc::iovec; BATCH],
    msgs: [libc::mmsghdr; BATCH],
    /// Which received message each pending response answers.
    pending: [usize; BATCH],
    rx_ctrl: [pktinfo::Ctrl; BATCH],
    tx_ctrl: [pktinfo::Ctrl; BATCH],
    /// Each received query's destination address (wildcard sockets only).
    dst: [Option<pktinfo::Dst>; BATCH],
}

impl<const P: bool> Buffers<P> {
    fn new() -> Box<Buffers<P>> {
        // SAFETY: all-zero is a valid value for these plain C structs; pointers inside are
        // set before every system call.
        let mut b = Box::new(Buffers {
            rx: vec![[0u8; RECV_BUF]; BATCH],
            tx: (0..BATCH)
                .map(|_| Vec::with_capacity(usize::from(u16::MAX) + 1024))
                .collect(),
            names: unsafe { zeroed() },
            name_lens: [0; BATCH],
            iov: unsafe { zeroed() },
            msgs: unsafe { zeroed() },
            pending: [0; BATCH],
            rx_ctrl: [pktinfo::Ctrl::default(); BATCH],
            tx_ctrl: [pktinfo::Ctrl::default(); BATCH],
            dst: [None; BATCH],
        });
        b.prepare_recv(BATCH);
        b
    }

    /// Resets the first `used` receive headers: only those were touched by the last
    /// `recvmmsg` (and the `sendmmsg` that followed it), so the rest are still ready.
    fn prepare_recv(&mut self, used: usize) {
        for i in 0..used.min(BATCH) {
            self.iov[i] = libc::iovec {
                iov_base: self.rx[i].as_mut_ptr().cast(),
                iov_len: RECV_BUF,
            };
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            if P {
                h.msg_control = self.rx_ctrl[i].0.as_mut_ptr().cast();
                h.msg_controllen = pktinfo::CTRL_LEN;
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            h.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
    }
}

fn to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for AF_INET6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Wakes a thread blocked in [`serve`] on `sock` for good: shuts the receive side, after
/// which every receive returns at once. Call after cancelling the shutdown token.
pub fn wake(sock: &UdpSocket) {
    // SAFETY: shutdown(2) on a descriptor that `sock` keeps open. On an unconnected UDP
    // socket Linux returns ENOTCONN but still marks the receive side shut and wakes waiters.
    unsafe {
        libc::shutdown(sock.as_raw_fd(), libc::SHUT_RD);
    }
}

/// Serves `sock` until `shutdown` is cancelled (and [`wake`] called). Runs on its own OS
/// thread; `siblings` is the number of threads serving the same address, which share the
/// rate limit between them.
pub fn serve(sock: &UdpSocket, state: SharedState, shutdown: CancellationToken, siblings: usize) {
    if sock.local_addr().is_ok_and(|a| a.ip().is_unspecified()) {
        serve_with::<true>(sock, state, shutdown, siblings);
    } else {
        serve_with::<false>(sock, state, shutdown, siblings);
    }
}

/// [`serve`] for a wildcard socket (`P`) or one bound to an address.
fn serve_with<const P: bool>(
    sock: &UdpSocket,
    state: SharedState,
    shutdown: CancellationToken,
    siblings: usize,
) {
    let fd = sock.as_raw_fd();
    let mut b = Buffers::<P>::new();
    let mut table = rrl::Table::new(rand::random());
    let mut used = 0usize;
    let mut batches = 0u32;
    while !shutdown.is_cancelled() {
        b.prepare_recv(used);
        // A failed receive may have touched any header: reset them all next time.
        used = BATCH;
        // SAFETY: msgs points at BATCH initialised headers whose buffers live in `b`.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                b.msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::Interrupted => continue,
                _ => {
                    tracing::warn!(error = %e, "udp receive failed");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        if n == 0 {
            // The receive side was shut by `wake`: the loop condition sees the token.
            continue;
        }
        let n = (n as usize).min(BATCH);
        used = n;
        // The first batch, then one in TIME_EVERY: from the receive's return to the send's.
        let started = batches.is_multiple_of(TIME_EVERY).then(metrics::clock);
        batches = batches.wrapping_add(1);
        let snapshot = state.load();
        let limit = rrl::Limit::new(&snapshot.rrl, siblings);
        // Coarse clocks (a few ns, where a precise read costs about 50 ns on these VMs):
        // the limiter counts milliseconds, cookies count seconds.
        let now_ms = match limit {
            Some(_) => {
                u64::try_from(coarse(libc::CLOCK_MONOTONIC_COARSE).as_millis()).unwrap_or(u64::MAX)
            }
            None => 0,
        };
        let now = coarse(libc::CLOCK_REALTIME_COARSE).as_secs() as u32;
        let mut out_n = 0usize;
        for i in 0..n {
            let len = b.msgs[i].msg_len as usize;
            b.name_lens[i] = b.msgs[i].msg_hdr.msg_namelen;
            if b.msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 || len > RECV_BUF {
                continue;
            }
            let Some(client) = to_std(&b.names[i]) else {
                continue;
            };
            if P {
                b.dst[i] = pktinfo::destination(&b.msgs[i].msg_hdr);
            }
            let mut outcome = answer::answer_at(
                &snapshot,
                &b.rx[i][..len],
                client,
                Transport::Udp,
                now,
                &mut b.tx[i],
            );
            if let Some(l) = &limit {
                let q = &b.rx[i][..len];
                limit_one(
                    &snapshot,
                    &mut table,
                    l,
                    q,
                    client,
                    (now, now_ms),
                    &mut outcome,
                    &mut b.tx[i],
                );
            }
            let sent = !b.tx[i].is_empty();
            observe::record(
                &outcome,
                Transport::Udp,
                client,
                &b.rx[i][..len],
                sent,
                snapshot.query_log,
            );
            if sent {
                b.pending[out_n] = i;
                out_n += 1;
            }
        }
        drop(snapshot);
        send_batch(fd, &mut b, out_n);
        if let (Some(t), Some(h)) = (started, metrics::DNS.latency(metrics::UDP)) {
            h.since(t, out_n as u64);
        }
    }
}

/// Passes one answer through the rate limiter: left as it is, replaced by the slipped reply,
/// or cleared (dropped). Answers to a valid server cookie or an exempt source, and empty
/// ones, are not counted.
#[allow(clippy::too_many_arguments)]
fn limit_one(
    snapshot: &Snapshot,
    table: &mut rrl::Table,
    limit: &rrl::Limit,
    query: &[u8],
    client: SocketAddr,
    (now, now_ms): (u32, u64),
    outcome: &mut Outcome,
    out: &mut Vec<u8>,
) {
    if out.is_empty() || outcome.cookie == Some(Verdict::Valid) || snapshot.rrl.exempts(client.ip())
    {
        return;
    }
    match table.check(client.ip(), Class::of(outcome), now_ms, limit) {
        Decision::Send => {}
        Decision::Slip => {
            let rcode = answer::limited_reply(snapshot, query, client, now, outcome.rcode, out);
            outcome.truncated = rcode == outcome.rcode;
            outcome.rcode = rcode;
            outcome.limited = Limited::Slipped;
        }
        Decision::Drop => {
            out.clear();
            outcome.limited = Limited::Dropped;
        }
    }
}

/// A coarse clock (jiffy resolution, read from the vDSO without touching the TSC); zero if
/// the kernel refuses it.
fn coarse(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn send_batch<const P: bool>(fd: i32, b: &mut Buffers<P>, count: usize) {
    for k in 0..count {
        let i = b.pending[k];
        b.iov[k] = libc::iovec {
            iov_base: b.tx[i].as_mut_ptr().cast(),
            iov_len: b.tx[i].len(),
        };
        let h = &mut b.msgs[k].msg_hdr;
        h.msg_name = (&mut b.names[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = b.name_lens[i];
        h.msg_iov = &mut b.iov[k];
        h.msg_iovlen = 1;
        if P && let Some(dst) = b.dst[i] {
            pktinfo::set_source(h, &mut b.tx_ctrl[k], dst);
        } else {
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
        }
        h.msg_flags = 0;
    }
    let mut sent = 0usize;
    while sent < count {
        // SAFETY: entries sent..count were initialised above and point into `b`.
        let r =
            unsafe { libc::sendmmsg(fd, b.msgs[sent..].as_mut_ptr(), (count - sent) as u32, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // One bad destination must not stall the rest of the batch: skip it.
            tracing::debug!(error = %e, "udp send failed");
            sent += 1;
        } else {
            sent += (r as usize).max(1);
        }
    }
}
