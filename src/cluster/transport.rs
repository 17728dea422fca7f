//! chitchat's transport, wrapped so that every datagram is authenticated and encrypted.
//!
//! Wire format of one datagram: `version (1 byte) | nonce (24 random bytes) | ciphertext | tag
//! (16 bytes)`, XChaCha20-Poly1305 under the cluster key, with the version byte as associated
//! data. A datagram that is too short, carries another version or fails authentication is
//! dropped and counted ([`TransportStats`]); chitchat never sees it.
//!
//! chitchat 0.13 keeps its message (de)serialisation crate-private: a [`Socket`] receives and
//! returns decoded envelopes, never bytes. So this socket lets chitchat's own `UdpSocket` do the
//! encoding over loopback: an envelope to send goes through a private pair of 127.0.0.1 sockets
//! (chitchat socket -> tap) and comes out as plaintext bytes to seal; an opened datagram goes the
//! other way (tap -> chitchat socket) and comes out as an envelope, whose sender is then set to
//! the real peer. Only datagrams from the paired socket are accepted on each side. Receiving
//! runs in its own task feeding a channel, so chitchat may cancel `recv` at any time without
//! losing track of which plaintext belongs to which peer.
//!
//! No replay protection: a replayed datagram carries versions chitchat already has and changes
//! nothing, except that a replayed SYN is answered.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chitchat::ChitchatEnvelope;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpSocket as CodecSocket};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::key::ClusterKey;
use super::seal::{Reject, Sealer};

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// How long the loopback codec may take; it is normally immediate.
const CODEC_TIMEOUT: Duration = Duration::from_millis(500);

/// Counters of one node's gossip transport, cumulative since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams sealed and sent.
    pub sent: u64,
    /// Datagrams opened and handed to chitchat.
    pub received: u64,
    /// Dropped: shorter than a header and tag.
    pub rejected_too_short: u64,
    /// Dropped: unknown format version byte.
    pub rejected_bad_version: u64,
    /// Dropped: authentication failed (another key, or altered on the way).
    pub rejected_bad_tag: u64,
    /// Authentic, but chitchat could not decode the plaintext.
    pub rejected_undecodable: u64,
    /// Envelopes that could not be encoded or sent.
    pub send_failed: u64,
    /// Bytes of the sealed datagrams sent (UDP payload: header, ciphertext and tag).
    pub bytes_sent: u64,
    /// Bytes of the sealed datagrams opened and handed to chitchat.
    pub bytes_received: u64,
}

impl TransportStats {
    /// Every datagram dropped on receipt, whatever the reason.
    pub fn rejected(&self) -> u64 {
        self.rejected_too_short
            + self.rejected_bad_version
            + self.rejected_bad_tag
            + self.rejected_undecodable
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    too_short: AtomicU64,
    bad_version: AtomicU64,
    bad_tag: AtomicU64,
    undecodable: AtomicU64,
    send_failed: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> TransportStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            sent: g(&self.sent),
            received: g(&self.received),
            rejected_too_short: g(&self.too_short),
            rejected_bad_version: g(&self.bad_version),
            rejected_bad_tag: g(&self.bad_tag),
            rejected_undecodable: g(&self.undecodable),
            send_failed: g(&self.send_failed),
            bytes_sent: g(&self.bytes_sent),
            bytes_received: g(&self.bytes_received),
        }
    }

    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn add(c: &AtomicU64, n: usize) {
        c.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn reject(&self, r: Reject) {
        Counters::bump(match r {
            Reject::TooShort => &self.too_short,
            Reject::BadVersion => &self.bad_version,
            Reject::BadTag => &self.bad_tag,
        });
    }
}

/// chitchat's [`Transport`] over sealed UDP datagrams. The listening socket may be bound
/// beforehand (so that port 0 can be used and bind errors surface early).
pub(crate) struct AeadTransport {
    sealer: Arc<Sealer>,
    counters: Arc<Counters>,
    prebound: Mutex<Option<std::net::UdpSocket>>,
}

impl AeadTransport {
    pub(crate) fn new(
        key: &ClusterKey,
        counters: Arc<Counters>,
        prebound: Option<std::net::UdpSocket>,
    ) -> AeadTransport {
        AeadTransport {
            sealer: Arc::new(Sealer::new(key)),
            counters,
            prebound: Mutex::new(prebound),
        }
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

#[async_trait]
impl Transport for AeadTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let prebound = match self.prebound.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let outer = match prebound {
            Some(s) => UdpSocket::from_std(s)?,
            None => UdpSocket::bind(listen_addr)
                .await
                .with_context(|| format!("cannot bind {listen_addr}/udp for gossip"))?,
        };
        let outer = Arc::new(outer);
        let local_addr = outer.local_addr()?;
        let encoder = CodecSocket::open(loopback()).await?;
        let encoder_addr = encoder.local_addr()?;
        let encoder_tap = UdpSocket::bind(loopback()).await?;
        let encoder_tap_addr = encoder_tap.local_addr()?;
        let codec = CodecSocket::open(loopback()).await?;
        let tap = UdpSocket::bind(loopback()).await?;
        let decoder = Decoder {
            outer: outer.clone(),
            sealer: self.sealer.clone(),
            counters: self.counters.clone(),
            codec_addr: codec.local_addr()?,
            codec,
            tap_addr: tap.local_addr()?,
            tap,
        };
        let (tx, rx) = mpsc::channel(256);
        let receiver = tokio::spawn(decoder.run(tx));
        Ok(Box::new(AeadSocket {
            outer,
            local_addr,
            sealer: self.sealer.clone(),
            counters: self.counters.clone(),
            encoder,
            encoder_addr,
            encoder_tap,
            encoder_tap_addr,
            rx,
            receiver,
        }))
    }
}

struct AeadSocket {
    outer: Arc<UdpSocket>,
    local_addr: SocketAddr,
    sealer: Arc<Sealer>,
    counters: Arc<Counters>,
    encoder: CodecSocket,
    encoder_addr: SocketAddr,
    encoder_tap: UdpSocket,
    encoder_tap_addr: SocketAddr,
    rx: mpsc::Receiver<anyhow::Result<RecvOutcome>>,
    receiver: tokio::task::JoinHandle<()>,
}

impl Drop for AeadSocket {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

impl AeadSocket {
    /// The envelope's bytes, as chitchat encodes them.
    async fn encode(&mut self, envelope: ChitchatEnvelope) -> anyhow::Result<Vec<u8>> {
        self.encoder.send(self.encoder_tap_addr, envelope).await?;
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let (n, from) =
                tokio::time::timeout(CODEC_TIMEOUT, self.encoder_tap.recv_from(&mut buf))
                    .await
                    .context("loopback encoder timed out")??;
            if from == self.encoder_addr {
                buf.truncate(n);
                return Ok(buf);
            }
            tracing::debug!(%from, "ignored a datagram to the gossip encoder tap");
        }
    }
}

#[async_trait]
impl Socket for AeadSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let result = async {
            let plaintext = self.encode(envelope).await?;
            let sealed = self.sealer.seal(&plaintext);
            if sealed.is_empty() || sealed.len() > MAX_DATAGRAM {
                anyhow::bail!(
                    "gossip message of {} bytes is too large to send",
                    plaintext.len()
                );
            }
            self.outer
                .send_to(&sealed, to)
                .await
                .with_context(|| format!("cannot send gossip to {to}"))
        }
        .await;
        match result {
            Ok(n) => {
                Counters::bump(&self.counters.sent);
                Counters::add(&self.counters.bytes_sent, n);
                Ok(SendOutcome { num_bytes_sent: n })
            }
            Err(e) => {
                Counters::bump(&self.counters.send_failed);
                Err(e)
            }
        }
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        match self.rx.recv().await {
            Some(r) => r,
            None => anyhow::bail!("gossip receiver stopped"),
        }
    }
}

/// The receiving half: reads sealed datagrams, opens them and has chitchat decode them.
struct Decoder {
    outer: Arc<UdpSocket>,
    sealer: Arc<Sealer>,
    counters: Arc<Counters>,
    codec: CodecSocket,
    codec_addr: SocketAddr,
    tap: UdpSocket,
    tap_addr: SocketAddr,
}

type Outcomes = mpsc::Sender<anyhow::Result<RecvOutcome>>;

impl Decoder {
    async fn run(mut self, tx: Outcomes) {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let received = tokio::select! {
                () = tx.closed() => return,
                r = self.outer.recv_from(&mut buf) => r,
            };
            let (n, from) = match received {
                Ok(r) => r,
                Err(e) if is_transient(&e) => continue,
                Err(e) => {
                    // The socket is broken: tell chitchat, which stops (and the node task with it).
                    if tx
                        .send(Err(anyhow::Error::new(e).context("gossip socket failed")))
                        .await
                        .is_err()
                    {
                        tracing::debug!("gossip socket failed after shutdown");
                    }
                    return;
                }
            };
            let plaintext = match self.sealer.open(&buf[..n]) {
                Ok(p) => p,
                Err(reject) => {
                    self.counters.reject(reject);
                    tracing::debug!(%from, len = n, %reject, "dropped a gossip datagram");
                    continue;
                }
            };
            match self.decode(&plaintext).await {
                Some(envelope) => {
                    Counters::bump(&self.counters.received);
                    Counters::add(&self.counters.bytes_received, n);
                    let outcome = RecvOutcome {
                        from_addr: from,
                        envelope,
                        num_bytes_received: n,
                    };
                    if tx.send(Ok(outcome)).await.is_err() {
                        return;
                    }
                }
                None => {
                    Counters::bump(&self.counters.undecodable);
                    tracing::debug!(%from, len = n, "dropped an authentic but undecodable gossip datagram");
                }
            }
        }
    }

    /// chitchat's reading of `plaintext`, or None when it refuses it (its socket silently skips
    /// what it cannot decode, hence the timeout).
    async fn decode(&mut self, plaintext: &[u8]) -> Option<ChitchatEnvelope> {
        if let Err(e) = self.tap.send_to(plaintext, self.codec_addr).await {
            tracing::warn!(error = %e, "loopback gossip decoder unreachable");
            return None;
        }
        loop {
            match tokio::time::timeout(CODEC_TIMEOUT, self.codec.recv()).await {
                Ok(Ok(outcome)) if outcome.from_addr == self.tap_addr => {
                    return Some(outcome.envelope);
                }
                Ok(Ok(outcome)) => {
                    tracing::debug!(from = %outcome.from_addr, "ignored a datagram to the gossip decoder");
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "loopback gossip decoder failed");
                    return None;
                }
                Err(_) => return None,
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::OutOfMemory
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_sum_every_rejection() {
        let c = Counters::default();
        c.reject(Reject::TooShort);
        c.reject(Reject::BadTag);
        c.reject(Reject::BadTag);
        c.reject(Reject::BadVersion);
        Counters::bump(&c.undecodable);
        Counters::add(&c.bytes_sent, 1200);
        Counters::add(&c.bytes_sent, 34);
        let s = c.snapshot();
        assert_eq!((s.rejected_bad_tag, s.rejected(), s.received), (2, 5, 0));
        assert_eq!((s.bytes_sent, s.bytes_received), (1234, 0));
    }
}
