//! Fate-sharing through BFD (RFC 5880, single hop as in RFC 5881): Meridian answers the BFD
//! sessions that the node's BIRD opens to the next hop of its anycast static routes. BIRD
//! keeps such a route only while its session is up; the session lives only while this
//! process sends control packets, so `kill -9`, a crash or a hang (SIGSTOP, a wedged
//! runtime) withdraw the prefix within BIRD's detection time (`multiplier × interval`).
//!
//! Only the asynchronous mode: no demand mode, no echo, no authentication. The packet codec
//! and the session state machine ([`Session`]) are pure; [`Responder`] is the socket shell.

mod session;

pub use session::{Packet, Session, State};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::AnycastError;
use crate::config::BfdListen;

/// RFC 5881: control packets to this port, from a source port in 49152..=65535.
pub const CONTROL_PORT: u16 = 3784;
/// Peers one responder keeps (BIRD opens one session per next hop).
const MAX_SESSIONS: usize = 64;

/// How many sessions are up now (for `/status` and metrics).
#[derive(Debug, Default)]
pub struct BfdStats {
    pub up: AtomicU64,
    pub sessions: AtomicU64,
}

/// The socket shell around [`Session`].
pub struct Responder {
    cfg: BfdListen,
    rx: UdpSocket,
    tx: UdpSocket,
    pub stats: Arc<BfdStats>,
}

fn bind(addr: SocketAddr, reuse: bool) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // BIRD binds the wildcard address on the same port with SO_REUSEADDR; so must we.
    s.set_reuse_address(reuse)?;
    match addr.ip() {
        IpAddr::V4(_) => s.set_ttl_v4(255)?,
        IpAddr::V6(_) => s.set_unicast_hops_v6(255)?,
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

impl Responder {
    pub fn bind(cfg: BfdListen) -> Result<Responder, AnycastError> {
        let err = |e: std::io::Error| AnycastError::Bfd(format!("{}: {e}", cfg.addr));
        let rx = bind(SocketAddr::new(cfg.addr, CONTROL_PORT), true).map_err(err)?;
        let mut last = None;
        // A source port of the RFC 5881 range: a few tries from a random start.
        let start: u16 = rand::random_range(49152..=65535);
        for i in 0..32u16 {
            let port = 49152 + (start - 49152 + i * 509) % 16384;
            match bind(SocketAddr::new(cfg.addr, port), false) {
                Ok(tx) => {
                    return Ok(Responder {
                        cfg,
                        rx,
                        tx,
                        stats: Arc::default(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(err(last.unwrap_or_else(|| {
            std::io::Error::other("no free source port")
        })))
    }

    async fn send(&self, to: IpAddr, p: &Packet) {
        let bytes = p.encode();
        if let Err(e) = self
            .tx
            .send_to(&bytes, SocketAddr::new(to, CONTROL_PORT))
            .await
        {
            tracing::debug!(peer = %to, error = %e, "BFD: send failed");
        }
    }

    /// Answer sessions until `shutdown`; then tell every peer this end is administratively
    /// down, so a clean stop does not wait for the detection time.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut sessions: HashMap<IpAddr, Session> = HashMap::new();
        let mut buf = [0u8; 128];
        loop {
            let now = Instant::now();
            let next = sessions
                .values()
                .map(Session::next_event)
                .min()
                .unwrap_or(now + Duration::from_secs(1));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(next) => {}
                r = self.rx.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.on_packet(&mut sessions, &buf[..n], from.ip()).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "BFD: receive failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
            let now = Instant::now();
            let mut out = Vec::new();
            for (peer, s) in &mut sessions {
                let before = s.state();
                if let Some(p) = s.on_timer(now, &mut rand::rng()) {
                    out.push((*peer, p));
                }
                log_change(*peer, before, s.state());
            }
            for (peer, p) in out {
                self.send(peer, &p).await;
            }
            sessions.retain(|_, s| !s.expired(now));
            self.count(&sessions);
        }
        for (peer, s) in &mut sessions {
            let p = s.admin_down();
            self.send(*peer, &p).await;
        }
    }

    async fn on_packet(&self, sessions: &mut HashMap<IpAddr, Session>, bytes: &[u8], from: IpAddr) {
        let Some(pkt) = Packet::decode(bytes) else {
            tracing::debug!(peer = %from, "BFD: malformed packet dropped");
            return;
        };
        let now = Instant::now();
        if !sessions.contains_key(&from) {
            if sessions.len() >= MAX_SESSIONS || pkt.your_disc != 0 {
                return;
            }
            let disc = loop {
                let d: u32 = rand::random();
                if d != 0 && sessions.values().all(|s| s.local_disc() != d) {
                    break d;
                }
            };
            sessions.insert(
                from,
                Session::new(disc, self.cfg.interval, self.cfg.multiplier, now),
            );
        }
        let Some(s) = sessions.get_mut(&from) else {
            return;
        };
        let before = s.state();
        let reply = s.on_packet(&pkt, now);
        log_change(from, before, s.state());
        if let Some(p) = reply {
            self.send(from, &p).await;
        }
    }

    fn count(&self, sessions: &HashMap<IpAddr, Session>) {
        let up = sessions.values().filter(|s| s.state() == State::Up).count();
        self.stats.up.store(up as u64, Ordering::Relaxed);
        self.stats
            .sessions
            .store(sessions.len() as u64, Ordering::Relaxed);
    }
}

fn log_change(peer: IpAddr, before: State, after: State) {
    if before != after {
        tracing::info!(peer = %peer, from = ?before, to = ?after, "BFD session state changed");
    }
}
