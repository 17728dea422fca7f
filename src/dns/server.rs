//! Starting and stopping the DNS listeners: every address gets N UDP sockets (one thread
//! each) and one TCP listener on the same port. All sockets are bound before anything
//! serves, so a bad address fails the start with its name.

use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket};
use std::thread::JoinHandle;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dns::DnsError;
use crate::dns::{tcp, udp};
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
) -> Result<(SocketAddr, Vec<UdpSocket>, StdTcpListener), DnsError> {
    let bind_err = |source| DnsError::Bind { addr, source };
    let tries = if addr.port() == 0 { PORT_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let first = udp::bind(addr).map_err(bind_err)?;
        let local = first.local_addr().map_err(bind_err)?;
        let tcp = match bind_tcp(local) {
            Ok(t) => t,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let mut socks = vec![first];
        for _ in 1..threads {
            socks.push(udp::bind(local).map_err(bind_err)?);
        }
        return Ok((local, socks, tcp));
    }
    Err(bind_err(
        last.unwrap_or_else(|| std::io::Error::other("no free port")),
    ))
}

impl DnsServer {
    /// Binds every address (UDP threads = CPU count) and starts serving. Must be called
    /// inside a tokio runtime (TCP runs on it).
    pub fn start(
        listen: &[SocketAddr],
        state: SharedState,
        shutdown: CancellationToken,
    ) -> Result<DnsServer, DnsError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::start_with_threads(listen, state, shutdown, threads)
    }

    /// As [`DnsServer::start`] with an explicit number of UDP threads per address.
    pub fn start_with_threads(
        listen: &[SocketAddr],
        state: SharedState,
        shutdown: CancellationToken,
        threads: usize,
    ) -> Result<DnsServer, DnsError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
        let mut bound = Vec::new();
        for &addr in listen {
            bound.push(bind_address(addr, threads.max(1))?);
        }
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
            for (i, sock) in socks.into_iter().enumerate() {
                let (state, shutdown) = (state.clone(), shutdown.clone());
                let handle = std::thread::Builder::new()
                    .name(format!("dns-udp-{i}"))
                    .spawn(move || udp::serve(sock, state, shutdown))
                    .map_err(DnsError::Thread)?;
                server.udp.push(handle);
            }
            server.tcp.spawn_on(
                tcp::serve(listener, state.clone(), shutdown.clone()),
                &runtime,
            );
            server.addrs.push(local);
        }
        Ok(server)
    }

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
