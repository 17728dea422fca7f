//! What each admin path answers, and who may ask.
//!
//! | path | methods | auth | answer |
//! |---|---|---|---|
//! | `/` | GET | none | HTML status page (it fetches `/status` itself) |
//! | `/status` | GET | none, or token with `admin_read = "token"` | the status document (JSON) |
//! | `/metrics` | GET | none, or token with `admin_read = "token"` | Prometheus text |
//! | `/overrides` | GET | token | current overrides (JSON) |
//! | `/overrides` | POST | token | `{"target": "site:hq", "state": "down"}` sets one (optional `author`, `reason`, `expires_in`) |
//! | `/overrides?target=T` | DELETE | token | clears one (optional `author`) |
//! | `/reload` | POST | token | reload the policy file like SIGHUP: 200 and the new generation, or 422 and every error |
//!
//! An unknown path is 404, a known path with another method 405 with `Allow`, a missing or
//! wrong token 401 with `WWW-Authenticate`, a body that is not the expected JSON 400 with the
//! parser's message, a server that cannot do it now 503.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::api::{AdminRead, AdminState, OverrideMeta, ReloadOutcome};
use super::message::{Request, Response};
use super::page::status_page;

/// The paths and the methods each accepts.
const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/status", &["GET"]),
    ("/metrics", &["GET"]),
    ("/overrides", &["GET", "POST", "DELETE"]),
    ("/reload", &["POST"]),
];

/// The page without data, for `admin_read = "token"` and no token.
/// Longest wait for a reload's outcome (a reload loads every zone file; very large zones
/// take a while). The reload itself is not cancelled when the wait ends.
pub const RELOAD_WAIT: Duration = Duration::from_secs(120);

/// Whether `req` carries the bearer token. Compares every byte whatever the first
/// difference, so the time taken does not tell how much of a guess was right.
fn authorised(state: &AdminState, req: &Request) -> bool {
    let Some(t) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return false;
    };
    t.len() == state.token.len()
        && t.bytes()
            .zip(state.token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether this request needs the token: everything but the page and, with
/// `admin_read = "open"`, the read-only views.
fn needs_token(state: &AdminState, method: &str, path: &str) -> bool {
    match (method, path) {
        ("GET", "/") => false,
        ("GET", "/status" | "/metrics") => state.read == AdminRead::Token,
        _ => true,
    }
}

/// Answer one admin request.
pub async fn handle(state: &AdminState, req: Request) -> Response {
    let Some((path, methods)) = ROUTES.iter().find(|(p, _)| *p == req.path) else {
        return Response::text(404, format!("no such path: {}\n", req.path));
    };
    if !methods.contains(&req.method.as_str()) {
        return Response::text(405, format!("{path} takes {}\n", methods.join(", ")))
            .with_header("allow", methods.join(", "));
    }
    if needs_token(state, &req.method, path) && !authorised(state, &req) {
        return Response::text(401, "missing or wrong bearer token\n")
            .with_header("www-authenticate", "Bearer realm=\"meridian\"");
    }
    match (req.method.as_str(), *path) {
        // The page holds no data: it reads /status itself (with the token it asks for when
        // `admin_read = "token"`), so it is the same for everyone.
        ("GET", "/") => Response::html(status_page()),
        ("GET", "/status") => Response::json(200, &(state.status)()),
        ("GET", "/metrics") => Response {
            status: 200,
            content_type: crate::metrics::CONTENT_TYPE,
            headers: Vec::new(),
            body: crate::metrics::render().into_bytes(),
        },
        ("POST", "/reload") => reload(state).await,
        (m, "/overrides") => overrides(state, m, &req).await,
        _ => Response::text(405, "method not allowed\n"),
    }
}

/// The body of `POST /overrides`.
#[derive(Debug, Deserialize)]
struct SetOverride {
    target: String,
    state: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    reason: String,
    expires_in: Option<String>,
}

async fn overrides(state: &AdminState, method: &str, req: &Request) -> Response {
    let Some(api) = &state.overrides else {
        return Response::text(503, "overrides are not available on this server\n");
    };
    let done = match method {
        "GET" => return Response::json(200, &api.list()),
        "POST" => {
            let body: SetOverride = match serde_json::from_slice(&req.body) {
                Ok(b) => b,
                Err(e) => {
                    return Response::text(
                        400,
                        format!(
                            "body: {e}; expected {{\"target\": \"site:hq\", \"state\": \"down\"}}\n"
                        ),
                    );
                }
            };
            let meta = OverrideMeta {
                author: body.author,
                reason: body.reason,
                expires_in: body.expires_in,
            };
            api.set(&body.target, &body.state, &meta).await
        }
        _ => {
            let Some(target) = req.query_param("target") else {
                return Response::text(400, "DELETE /overrides?target=...\n");
            };
            let author = req.query_param("author").unwrap_or_default();
            api.clear(&target, &author).await
        }
    };
    match done {
        Ok(()) => Response::json(200, &api.list()),
        Err(e) => Response::text(400, format!("{e}\n")),
    }
}

async fn reload(state: &AdminState) -> Response {
    let Some(api) = &state.reload else {
        return Response::text(503, "reload is not available on this server\n");
    };
    let outcome = match tokio::time::timeout(RELOAD_WAIT, api.reload()).await {
        Ok(o) => o,
        Err(_) => {
            return Response::text(
                503,
                format!(
                    "the reload did not finish within {} s; its outcome will be logged\n",
                    RELOAD_WAIT.as_secs()
                ),
            );
        }
    };
    match outcome {
        ReloadOutcome::Applied {
            generation,
            digest,
            loaded_at_ms,
            zone_errors,
        } => Response::json(
            200,
            &json!({"generation": generation, "digest": digest, "loaded_at_ms": loaded_at_ms,
                    "zone_errors": zone_errors}),
        ),
        ReloadOutcome::Refused(errors) => Response::json(422, &json!({"errors": errors})),
        ReloadOutcome::Unavailable(why) => Response::text(503, format!("{why}\n")),
    }
}

#[cfg(test)]
mod tests;
