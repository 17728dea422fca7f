//! Starting and stopping the DNS listeners: every address gets N UDP sockets (one thread
//! each) and one TCP listener on the same port. All sockets are bound before anything
//! serves, so a bad address fails the start with its name. Each UDP thread runs under
//! [`supervise`]: a panic restarts it on the same socket.

use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dns::DnsError;
use crate::dns::{supervise, tcp, udp};
use crate::state::SharedState;

/// Running DNS listeners.
pub struct DnsServer {
    addrs: Vec<SocketAddr>,
    udp: Vec<JoinHandle<()>>,
    tcp: JoinSet<()>,
}

/// Attempts at finding a port free for both UDP and TCP when port 0 is asked for.
const PORT_TRIES: usize = 16;

fn bind_tcp(addr: SocketAddr) -> std::io::Result<StdTcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// Binds `threads` UDP sockets and one TCP listener on one address (same port).
fn bind_address(
    addr: SocketAddr,
    threads: usize,
    asked: Option<usize>,
) -> Result<(SocketAddr, Vec<UdpSocket>, StdTcpListener), DnsError> {
    let rcvbuf = asked.unwrap_or(udp::DEFAULT_RCVBUF);
    let bind_err = |source| DnsError::Bind { addr, source };
    let tries = if addr.port() == 0 { PORT_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let first = udp::bind(addr, rcvbuf).map_err(bind_err)?;
        let local = first.local_addr().map_err(bind_err)?;
        // The kernel reports twice what it grants (half is its bookkeeping).
        let got = socket2::SockRef::from(&first)
            .recv_buffer_size()
            .map_or(0, |b| b / 2);
        if got < rcvbuf && asked.is_some() {
            tracing::warn!(
                %local, asked = rcvbuf, got,
                "UDP receive buffer smaller than udp_receive_buffer: raise net.core.rmem_max, \
                 or start as root (or with CAP_NET_ADMIN)"
            );
        } else if got < rcvbuf {
            tracing::debug!(%local, asked = rcvbuf, got, "UDP receive buffer capped by the kernel");
        }
        let tcp = match bind_tcp(local) {
            Ok(t) => t,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let mut socks = vec![first];
        for _ in 1..threads {
            socks.push(udp::bind(local, rcvbuf).map_err(bind_err)?);
        }
        return Ok((local, socks, tcp));
    }
    Err(bind_err(
        last.unwrap_or_else(|| std::io::Error::other("no free port")),
    ))
}

/// Starts `work` on its own thread under the supervisor: restarted after a panic or an
/// early return until `shutdown` is cancelled.
#[allow(clippy::disallowed_methods)] // shell: the supervisor's clock
fn spawn_supervised(
    name: String,
    shutdown: CancellationToken,
    work: impl FnMut() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let stopped = || shutdown.is_cancelled();
            supervise::supervise(
                &name,
                stopped,
                work,
                supervise::Backoff::default(),
                |d| supervise::sleep_unless(&stopped, d),
                std::time::Instant::now,
                |_, _| {},
            );
        })
}

impl DnsServer {
    /// Binds every address (UDP threads = CPU count) and starts serving. Must be called
    /// inside a tokio runtime (TCP runs on it).
    pub fn start(
        listen: &[SocketAddr],
        state: SharedState,
        shutdown: CancellationToken,
    ) -> Result<DnsServer, DnsError> {
        Self::start_with_threads(listen, state, shutdown, 0)
    }

    /// As [`DnsServer::start`] with an explicit number of UDP threads per address.
    pub fn start_with_threads(
        listen: &[SocketAddr],
        state: SharedState,
        shutdown: CancellationToken,
        threads: usize,
    ) -> Result<DnsServer, DnsError> {
        Bound::bind(listen, threads, None)?.serve(state, shutdown)
    }
}

/// Every DNS socket bound, nothing served yet: queries wait in the kernel's queues until
/// [`Bound::serve`] (`serve` leaves root in between, so that no query is answered as root).
pub struct Bound {
    sockets: Vec<(SocketAddr, Vec<UdpSocket>, StdTcpListener)>,
}

impl Bound {
    /// Binds `threads` UDP sockets (0: one per CPU core), each with a receive buffer of
    /// `rcvbuf` bytes where allowed (None: 4 MiB), and a TCP listener per address.
    pub fn bind(
        listen: &[SocketAddr],
        threads: usize,
        rcvbuf: Option<usize>,
    ) -> Result<Bound, DnsError> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut sockets = Vec::new();
        for &addr in listen {
            sockets.push(bind_address(addr, threads, rcvbuf)?);
        }
        Ok(Bound { sockets })
    }

    /// The bound addresses, in the order given (the real port when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|(a, _, _)| *a).collect()
    }

    /// Starts serving. Must be called inside a tokio runtime (TCP runs on it).
    pub fn serve(
        self,
        state: SharedState,
        shutdown: CancellationToken,
    ) -> Result<DnsServer, DnsError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
        let bound = self.sockets;
        let mut server = DnsServer {
            addrs: Vec::new(),
            udp: Vec::new(),
            tcp: JoinSet::new(),
        };
        for (local, socks, tcp_std) in bound {
            let listener = {
                let _guard = runtime.enter();
                tokio::net::TcpListener::from_std(tcp_std).map_err(|source| DnsError::Bind {
                    addr: local,
                    source,
                })?
            };
            let socks: Vec<Arc<UdpSocket>> = socks.into_iter().map(Arc::new).collect();
            let siblings = socks.len();
            for (i, sock) in socks.iter().enumerate() {
                let (sock, state, shutdown) = (sock.clone(), state.clone(), shutdown.clone());
                let stop = shutdown.clone();
                let handle = spawn_supervised(format!("dns-udp-{i}"), stop, move || {
                    udp::serve(&sock, state.clone(), shutdown.clone(), siblings);
                })
                .map_err(DnsError::Thread)?;
                server.udp.push(handle);
            }
            // The UDP threads block in the kernel without a timeout (a timed wait would arm
            // a timer for nearly every query); shutting the sockets' receive side wakes them.
            let token = shutdown.clone();
            runtime.spawn(async move {
                token.cancelled().await;
                for sock in &socks {
                    udp::wake(sock);
                }
            });
            server.tcp.spawn_on(
                tcp::serve(listener, state.clone(), shutdown.clone()),
                &runtime,
            );
            server.addrs.push(local);
        }
        Ok(server)
    }
}

impl DnsServer {
    /// The bound addresses, in the order given (the real port when 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Waits until every listener has stopped (after the shutdown token is cancelled).
    pub async fn join(mut self) {
        while self.tcp.join_next().await.is_some() {}
        let udp = std::mem::take(&mut self.udp);
        let joined = tokio::task::spawn_blocking(move || {
            udp.into_iter()
                .map(|h| h.join())
                .filter(Result::is_err)
                .count()
        });
        match joined.await {
            Ok(0) => {}
            Ok(n) => tracing::error!(threads = n, "udp threads panicked"),
            Err(e) => tracing::error!(error = %e, "joining udp threads failed"),
        }
    }
}

#[cfg(test)]
mod process_tests;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dns::zone::ZoneSet;
    use crate::state::{Snapshot, shared};

    /// The UDP threads block without a timeout; cancelling must still stop every one of
    /// them (v4 and v6, several per address) at once, not at some poll interval.
    #[test]
    fn cancel_stops_every_listener_promptly() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let shutdown = CancellationToken::new();
        let state = shared(Snapshot::new(ZoneSet::default(), 1232));
        let listen: Vec<SocketAddr> =
            vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        let server = rt
            .block_on(async { DnsServer::start_with_threads(&listen, state, shutdown.clone(), 3) })
            .unwrap();
        assert_eq!(server.udp.len(), 6);
        // Let the threads reach their blocking receive.
        std::thread::sleep(Duration::from_millis(100));
        let q = UdpSocket::bind("127.0.0.1:0").unwrap();
        q.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // A header-only query: any reply proves the v4 threads are serving.
        q.send_to(
            &[0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            server.local_addrs()[0],
        )
        .unwrap();
        let mut buf = [0u8; 512];
        let (n, _) = q.recv_from(&mut buf).unwrap();
        assert!(n >= 12 && buf[..2] == [0x12, 0x34]);
        shutdown.cancel();
        let joined = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(2), server.join()).await });
        if joined.is_err() {
            // Do not wait for the stuck threads when the runtime drops.
            rt.shutdown_background();
            panic!("listeners still running 2 s after cancel");
        }
    }
}
