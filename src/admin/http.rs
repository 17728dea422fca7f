//! Just enough HTTP/1.1 for a loopback admin endpoint: one request per connection,
//! headers up to 16 KiB, bodies up to 64 KiB, one deadline (`[server] admin_timeout`) for
//! the whole exchange: reading the request and writing the answer, so a client that never
//! reads cannot hold the connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }
    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        }
    }
    pub fn html(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Error",
    }
}

/// Parse a request head (up to and excluding the blank line).
pub fn parse_head(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?;
    if !first.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
    })
}

async fn read_request(stream: &mut TcpStream) -> Result<Request, Response> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(Response::text(413, "request head too large\n"));
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(Response::text(400, "incomplete request\n")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| Response::text(400, "bad request head\n"))?;
    let mut req = parse_head(head).ok_or_else(|| Response::text(400, "bad request head\n"))?;
    let len: usize = req
        .headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(Ok(0), |(_, v)| v.parse())
        .map_err(|_| Response::text(400, "bad content-length\n"))?;
    if len > MAX_BODY {
        return Err(Response::text(413, "body too large\n"));
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(Response::text(400, "incomplete body\n")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(len);
    req.body = body;
    Ok(req)
}

/// Read one request, answer it with `handler`, close; all within `deadline`.
pub async fn serve_one(
    mut stream: TcpStream,
    deadline: Duration,
    handler: impl FnOnce(Request) -> Response,
) {
    let end = tokio::time::Instant::now() + deadline;
    let resp = match tokio::time::timeout_at(end, read_request(&mut stream)).await {
        Ok(Ok(req)) => handler(req),
        Ok(Err(resp)) => resp,
        Err(_) => Response::text(400, "request timed out\n"),
    };
    // A late request still gets its short answer, but never more than a second past the
    // deadline.
    let end = end.max(tokio::time::Instant::now() + Duration::from_secs(1));
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    let written = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&resp.body).await?;
        stream.shutdown().await
    };
    match tokio::time::timeout_at(end, written).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "admin response not delivered"),
        Err(_) => tracing::debug!("admin response not read by the client in time: closed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head() {
        let r = parse_head("POST /overrides?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t")
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str()),
            ("POST", "/overrides", "x=1")
        );
        assert_eq!(
            r.headers[1],
            ("authorization".to_string(), "Bearer t".to_string())
        );
        assert!(parse_head("GET /\r\n").is_none());
        assert!(parse_head("GET / SMTP/1.0").is_none());
    }
}
