//! One admin connection on hyper's HTTP/1.1 server.
//!
//! Keep-alive is on. The limits, all per connection:
//! - the request head (request line and headers) may be [`MAX_HEAD`] bytes: above, 431;
//! - the body may be [`MAX_BODY`] bytes: above, 413 (at once when `Content-Length` says so);
//! - a request head must arrive within the deadline (`[server] admin_timeout`), which is
//!   also how long an idle keep-alive connection waits for its next request; past it the
//!   connection is closed;
//! - the body must arrive within the deadline counted from the start of the request: past
//!   it, 408 and the connection is closed;
//! - the answer must be written by the deadline (or one second after the handler finishes,
//!   whichever is later): a client that does not read is cut off.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::api::AdminState;
use super::message::{Request, Response};
use super::routes::handle;

/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body.
pub const MAX_BODY: usize = 64 * 1024;
/// Most header lines in a request.
const MAX_HEADERS: usize = 64;

/// Serves one connection until the client closes it, a limit is hit or the deadline passes.
pub async fn serve(stream: TcpStream, state: Arc<AdminState>, timeout: Duration) {
    let write_by = WriteBy::default();
    let io = TokioIo::new(Deadlined {
        inner: stream,
        write_by: write_by.clone(),
        sleep: None,
    });
    let service = service_fn(move |req| {
        let state = state.clone();
        let write_by = write_by.clone();
        async move { Ok::<_, Infallible>(exchange(req, &state, &write_by, timeout).await) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .keep_alive(true)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD)
        .serve_connection(io, service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "admin connection ended");
    }
}

/// One request: read the body within the limits, answer it, set the write deadline.
async fn exchange(
    req: hyper::Request<Incoming>,
    state: &AdminState,
    write_by: &WriteBy,
    timeout: Duration,
) -> hyper::Response<Full<Bytes>> {
    let end = Instant::now() + timeout;
    write_by.set(end);
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || Response::text(413, format!("the body is over {MAX_BODY} bytes\n"));
    let resp = if declared.is_some_and(|n| n > MAX_BODY as u64) {
        closing(too_large())
    } else {
        match tokio::time::timeout_at(end, Limited::new(body, MAX_BODY).collect()).await {
            Err(_) => closing(Response::text(408, "the request took too long\n")),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => closing(too_large()),
            Ok(Err(e)) => closing(Response::text(400, format!("cannot read the body: {e}\n"))),
            Ok(Ok(collected)) => {
                let req = Request {
                    method: parts.method.as_str().to_owned(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or_default().to_owned(),
                    headers: parts
                        .headers
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))
                        })
                        .collect(),
                    body: collected.to_bytes().to_vec(),
                };
                to_hyper(handle(state, req).await)
            }
        }
    };
    // A slow handler (a reload) still gets its answer out, but within a second of finishing.
    write_by.set(end.max(Instant::now() + Duration::from_secs(1)));
    resp
}

fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder()
        .status(r.status)
        .header(hyper::header::CONTENT_TYPE, r.content_type)
        .header(hyper::header::CACHE_CONTROL, "no-store");
    for (k, v) in &r.headers {
        builder = builder.header(*k, v.as_str());
    }
    builder
        .body(Full::new(Bytes::from(r.body)))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "admin answer could not be built");
            let mut fallback =
                hyper::Response::new(Full::new(Bytes::from_static(b"internal error\n")));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}

/// An answer after which the connection is closed (the rest of the request is unread).
fn closing(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut resp = to_hyper(r);
    resp.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    resp
}

/// When the answer in progress must be written by; set by the request, read by the stream.
#[derive(Debug, Clone, Default)]
struct WriteBy(Arc<Mutex<Option<Instant>>>);

impl WriteBy {
    fn set(&self, at: Instant) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(at);
    }

    fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The TCP stream with a write deadline: a write that cannot proceed past [`WriteBy`] fails
/// with `TimedOut`, which ends the connection. Reads are bounded by hyper's header timeout
/// and the body deadline in [`exchange`].
struct Deadlined {
    inner: TcpStream,
    write_by: WriteBy,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadlined {
    /// After the inner stream said Pending: Ready(error) once the deadline has passed, else
    /// Pending with a wake-up at the deadline.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let Some(at) = self.write_by.get() else {
            return Poll::Pending;
        };
        let sleep = match &mut self.sleep {
            Some(s) => {
                if s.deadline() != at {
                    s.as_mut().reset(at);
                }
                s
            }
            None => self.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the answer in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Deadlined {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Deadlined {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.stalled(cx),
            ready => ready,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.stalled(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Pending => self.stalled(cx),
            ready => ready,
        }
    }
}
