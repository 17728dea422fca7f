//! DNS over TCP (RFC 7766): Meridian's own small tokio listener with 2-byte framing,
//! answering through the same [`answer::answer`] core as UDP so both transports give the
//! same bytes (see docs/dns-behaviour.md for why not hickory-server's pipeline).
//!
//! Limits (`[server]` keys, read from the snapshot at each accept so a reload applies
//! them): a global connection cap and one per client prefix ([`crate::netlimit`]); an idle
//! timeout before each query; an I/O deadline on the rest of a started query and on every
//! answer written, so a client that sends queries and never reads is dropped once the
//! socket buffers are full.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::TcpSettings;
use crate::dns::answer::{self, Transport};
use crate::dns::observe;
use crate::metrics;
use crate::netlimit::Limiter;
use crate::state::SharedState;

/// How long shutdown waits for open connections before aborting them.
const DRAIN: Duration = Duration::from_secs(2);

/// Accepts connections until `shutdown`, then drains them with a deadline.
pub async fn serve(listener: TcpListener, state: SharedState, shutdown: CancellationToken) {
    let limiter = Limiter::new();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let settings = state.load().tcp;
                    let slot = match limiter.admit(peer.ip(), &settings.limits) {
                        Ok(slot) => slot,
                        Err(why) => {
                            tracing::debug!(%peer, "tcp connection closed: {why}");
                            continue;
                        }
                    };
                    let (state, shutdown) = (state.clone(), shutdown.clone());
                    conns.spawn(async move {
                        let served = connection(stream, peer, state, &settings, shutdown).await;
                        if let Err(e) = served {
                            tracing::debug!(%peer, error = %e, "tcp connection ended with an error");
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    if tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

/// Serves one connection: queries are answered in order (RFC 7766 allows pipelining).
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    state: SharedState,
    limits: &TcpSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut query = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(usize::from(u16::MAX) + 1024);
    loop {
        let len = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = tokio::time::timeout(limits.idle_timeout, stream.read_u16()) => match r {
                Err(_) => return Ok(()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(r) => r?,
            },
        };
        query.resize(usize::from(len), 0);
        match tokio::time::timeout(limits.io_timeout, stream.read_exact(&mut query)).await {
            Err(_) => return Err(timed_out("reading a query")),
            Ok(r) => r?,
        };
        let started = metrics::clock();
        let snapshot = state.load();
        let outcome = answer::answer(&snapshot, &query, peer, Transport::Tcp, &mut out);
        observe::record(
            &outcome,
            Transport::Tcp,
            peer,
            &query,
            !out.is_empty(),
            snapshot.query_log,
        );
        drop(snapshot);
        if out.is_empty() {
            continue;
        }
        let mut framed = Vec::with_capacity(out.len() + 2);
        framed.extend_from_slice(&(out.len() as u16).to_be_bytes());
        framed.extend_from_slice(&out);
        match tokio::time::timeout(limits.io_timeout, stream.write_all(&framed)).await {
            Err(_) => return Err(timed_out("writing an answer (the client does not read)")),
            Ok(r) => r?,
        }
        if let Some(h) = metrics::DNS.latency(metrics::TCP) {
            h.since(started, 1);
        }
    }
}

fn timed_out(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("deadline passed {what}"),
    )
}

#[cfg(test)]
mod tests;
