//! DNS over TCP (RFC 7766): Meridian's own small tokio listener with 2-byte framing, an
//! idle timeout and a connection cap, answering through the same [`answer::answer`] core
//! as UDP so both transports give the same bytes (see docs/dns-behaviour.md for why not
//! hickory-server's pipeline).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dns::answer::{self, Transport};
use crate::dns::observe;
use crate::state::SharedState;

/// A connection with no complete query for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TCP connections served at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 512;
/// How long shutdown waits for open connections before aborting them.
const DRAIN: Duration = Duration::from_secs(2);

/// Accepts connections until `shutdown`, then drains them with a deadline.
pub async fn serve(listener: TcpListener, state: SharedState, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        tracing::debug!(%peer, "tcp connection cap reached, closing");
                        continue;
                    };
                    let (state, shutdown) = (state.clone(), shutdown.clone());
                    conns.spawn(async move {
                        if let Err(e) = connection(stream, peer, state, shutdown).await {
                            tracing::debug!(%peer, error = %e, "tcp connection ended with an error");
                        }
                        drop(permit);
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
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut query = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(usize::from(u16::MAX) + 1024);
    loop {
        let len = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = tokio::time::timeout(IDLE_TIMEOUT, stream.read_u16()) => match r {
                Err(_) => return Ok(()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(r) => r?,
            },
        };
        query.resize(usize::from(len), 0);
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut query)).await {
            Err(_) => return Ok(()),
            Ok(r) => r?,
        };
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
        stream.write_all(&framed).await?;
    }
}
