//! HTTP and HTTPS probes over reqwest (rustls).
//!
//! One request per probe on a fresh connection (no pooling: a pooled connection would hide a
//! listener that stopped accepting), no redirects followed (a 3xx is just a status), no proxy.
//! Up means: the status is in `expect` and, when `body` is set, the first 64 KiB of the body
//! contain it. Certificates are verified against the system roots unless `tls_verify = false`.
//! With a `host`, that name goes in the Host header and, for https, in SNI and the certificate
//! name check (the connection still goes to the probed address).

use std::sync::OnceLock;

use reqwest::{Client, Method};

use crate::config::{CheckKind, HttpMethod};
use crate::health::HealthError;
use crate::health::targets::ProbeKey;

use super::timeout_reason;

const BODY_LIMIT: usize = 64 * 1024;

/// Shared clients, built on first use: one verifying, one not.
#[derive(Debug, Default)]
pub struct HttpClients {
    verify: OnceLock<Client>,
    no_verify: OnceLock<Client>,
}

impl HttpClients {
    pub fn new() -> Self {
        HttpClients::default()
    }

    fn get(&self, verify: bool) -> Result<Client, HealthError> {
        let cell = if verify {
            &self.verify
        } else {
            &self.no_verify
        };
        if let Some(c) = cell.get() {
            return Ok(c.clone());
        }
        let client = builder(verify).build().map_err(client_error)?;
        Ok(cell.get_or_init(|| client).clone())
    }
}

fn builder(verify: bool) -> reqwest::ClientBuilder {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .tls_danger_accept_invalid_certs(!verify)
        .user_agent(concat!("meridian-health/", env!("CARGO_PKG_VERSION")))
}

/// reqwest says only "builder error"; the cause (e.g. no CA roots) is in the source chain.
fn client_error(e: reqwest::Error) -> HealthError {
    let mut text = e.to_string();
    let mut inner: &dyn std::error::Error = &e;
    while let Some(next) = inner.source() {
        text.push_str(&format!(": {next}"));
        inner = next;
    }
    HealthError::HttpClient(text)
}

#[derive(Debug)]
pub(super) struct HttpProbe {
    client: Client,
    url: String,
    method: Method,
    host_header: Option<String>,
    expect: Vec<u16>,
    body: Option<String>,
}

impl HttpProbe {
    pub(super) fn new(key: &ProbeKey, clients: &HttpClients) -> Result<HttpProbe, HealthError> {
        let CheckKind::Http {
            https,
            method,
            path,
            host,
            expect,
            body,
            tls_verify,
        } = &key.check.kind
        else {
            return Err(HealthError::Check {
                key: key.to_string(),
                message: "not an http check".into(),
            });
        };
        let scheme = if *https { "https" } else { "http" };
        let path = if path.starts_with('/') {
            path.clone()
        } else {
            format!("/{path}")
        };
        let method = match method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Head => Method::HEAD,
            HttpMethod::Post => Method::POST,
            HttpMethod::Options => Method::OPTIONS,
        };
        let (client, url, host_header) = match (host, https) {
            (Some(name), true) => {
                // SNI and the certificate check must use the name: resolve it to the target.
                let client = builder(*tls_verify)
                    .resolve(name, key.addr)
                    .build()
                    .map_err(client_error)?;
                let url = format!("https://{name}:{}{path}", key.addr.port());
                (client, url, None)
            }
            (host, https) => {
                let url = format!("{scheme}://{}{path}", key.addr);
                // Plain http never does TLS (no redirects are followed): it must not need the
                // system's CA roots, which minimal hosts lack (the verifying client fails to
                // build without them).
                (clients.get(*tls_verify && *https)?, url, host.clone())
            }
        };
        Ok(HttpProbe {
            client,
            url,
            method,
            host_header,
            expect: if expect.is_empty() {
                vec![200]
            } else {
                expect.clone()
            },
            body: body.clone(),
        })
    }

    pub(super) async fn probe(&self, key: &ProbeKey) -> Result<String, String> {
        let mut req = self
            .client
            .request(self.method.clone(), &self.url)
            .timeout(key.check.timeout);
        if let Some(h) = &self.host_header {
            req = req.header(reqwest::header::HOST, h);
        }
        let mut resp = req.send().await.map_err(|e| error_reason(&e, key))?;
        let status = resp.status().as_u16();
        if !self.expect.contains(&status) {
            return Err(format!("status {status}"));
        }
        let Some(needle) = &self.body else {
            return Ok(format!("status {status}"));
        };
        let mut seen: Vec<u8> = Vec::new();
        while seen.len() < BODY_LIMIT {
            match resp.chunk().await {
                Ok(Some(chunk)) => seen.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return Err(error_reason(&e, key)),
            }
        }
        seen.truncate(BODY_LIMIT);
        let found =
            !needle.is_empty() && seen.windows(needle.len()).any(|w| w == needle.as_bytes());
        if found || needle.is_empty() {
            Ok(format!("status {status}, body matches"))
        } else {
            Err(format!("status {status}, body lacks {needle:?}"))
        }
    }
}

/// The innermost cause is the useful part ("Connection refused", "invalid peer certificate").
fn error_reason(e: &reqwest::Error, key: &ProbeKey) -> String {
    if e.is_timeout() {
        return timeout_reason(key.check.timeout);
    }
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    if let Some(io) = inner.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::ConnectionRefused
    {
        return "connect refused".into();
    }
    let what = if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    format!("{what}: {inner}")
}
