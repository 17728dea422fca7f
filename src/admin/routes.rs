//! What each admin path answers. The data comes from the running server through
//! [`AdminState`]'s callbacks, so this module knows nothing of DNS, health or IPVS internals.
//!
//! | path | method | auth | answer |
//! |---|---|---|---|
//! | `/` | GET | no | HTML status page |
//! | `/status` | GET | no | the same as JSON |
//! | `/metrics` | GET | no | Prometheus text |
//! | `/overrides` | GET | token | current overrides (JSON) |
//! | `/overrides` | POST | token | `{"target": "site:hq", "state": "down"}` sets one (optional `author`, `reason`, `expires_in`) |
//! | `/overrides?target=T` | DELETE | token | clears one |

use super::http::{Request, Response};
use super::page::status_page;

/// The override operations the admin API exposes.
pub trait OverrideApi: Send + Sync {
    fn list(&self) -> serde_json::Value;
    fn set(&self, target: &str, state: &str, meta: &OverrideMeta) -> Result<(), String>;
    fn clear(&self, target: &str, author: &str) -> Result<(), String>;
}

/// Who sets an override, why and for how long (all optional in the request).
#[derive(Debug, Clone, Default)]
pub struct OverrideMeta {
    pub author: String,
    pub reason: String,
    /// `expires_in`, e.g. "30m".
    pub expires_in: Option<String>,
}

/// What the admin endpoint can see of the running server.
pub struct AdminState {
    /// Bearer token required for the override API.
    pub token: String,
    /// A JSON status document (config generation, zones, sites, links, health, LVS).
    pub status: Box<dyn Fn() -> serde_json::Value + Send + Sync>,
    pub overrides: Option<Box<dyn OverrideApi>>,
}

fn authorised(state: &AdminState, req: &Request) -> bool {
    let Some(h) = req.header("authorization") else {
        return false;
    };
    let Some(t) = h.strip_prefix("Bearer ") else {
        return false;
    };
    // Length first, then every byte: no early exit on the first difference.
    t.len() == state.token.len()
        && t.bytes()
            .zip(state.token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
}

/// Answer one admin request.
pub fn handle(state: &AdminState, req: Request) -> Response {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/metrics") => Response {
            status: 200,
            content_type: crate::metrics::CONTENT_TYPE,
            body: crate::metrics::render().into_bytes(),
        },
        ("GET", "/status") => Response::json(200, &(state.status)()),
        ("GET", "/") => Response::html(status_page(&(state.status)())),
        (_, "/overrides") if !authorised(state, &req) => {
            Response::text(401, "missing or wrong bearer token\n")
        }
        (m, "/overrides") => {
            let Some(api) = &state.overrides else {
                return Response::text(404, "overrides are not available\n");
            };
            match m {
                "GET" => Response::json(200, &api.list()),
                "POST" => {
                    let body: serde_json::Value = match serde_json::from_slice(&req.body) {
                        Ok(v) => v,
                        Err(e) => return Response::text(400, format!("body is not JSON: {e}\n")),
                    };
                    let (Some(t), Some(s)) = (body["target"].as_str(), body["state"].as_str())
                    else {
                        return Response::text(400, "expected {\"target\": ..., \"state\": ...}\n");
                    };
                    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
                    let meta = OverrideMeta {
                        author: text("author"),
                        reason: text("reason"),
                        expires_in: body["expires_in"].as_str().map(str::to_owned),
                    };
                    match api.set(t, s, &meta) {
                        Ok(()) => Response::json(200, &api.list()),
                        Err(e) => Response::text(400, format!("{e}\n")),
                    }
                }
                "DELETE" => match query_param(&req.query, "target") {
                    Some(t) => match api.clear(
                        &percent_decode(t),
                        &percent_decode(query_param(&req.query, "author").unwrap_or_default()),
                    ) {
                        Ok(()) => Response::json(200, &api.list()),
                        Err(e) => Response::text(400, format!("{e}\n")),
                    },
                    None => Response::text(400, "DELETE /overrides?target=...\n"),
                },
                _ => Response::text(405, "use GET, POST or DELETE\n"),
            }
        }
        ("GET", _) => Response::text(404, "not found\n"),
        _ => Response::text(405, "method not allowed\n"),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    struct Fake(Mutex<Vec<(String, String)>>);
    impl OverrideApi for Fake {
        fn list(&self) -> serde_json::Value {
            serde_json::json!(self.0.lock().unwrap().clone())
        }
        fn set(&self, t: &str, s: &str, _: &OverrideMeta) -> Result<(), String> {
            if !t.contains(':') {
                return Err(format!("bad target {t}"));
            }
            self.0.lock().unwrap().push((t.into(), s.into()));
            Ok(())
        }
        fn clear(&self, t: &str, _: &str) -> Result<(), String> {
            self.0.lock().unwrap().retain(|(x, _)| x != t);
            Ok(())
        }
    }

    fn req(method: &str, path: &str, token: Option<&str>, body: &str) -> Request {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers = Vec::new();
        if let Some(t) = token {
            headers.push(("authorization".into(), format!("Bearer {t}")));
        }
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            body: body.into(),
        }
    }

    #[test]
    fn overrides_need_the_token_and_work_with_it() {
        let st = AdminState {
            token: "s3cret".into(),
            status: Box::new(
                || serde_json::json!({"generation": 3, "sites": [{"site": "hq", "state": "up"}]}),
            ),
            overrides: Some(Box::new(Fake(Mutex::new(Vec::new())))),
        };
        assert_eq!(handle(&st, req("GET", "/overrides", None, "")).status, 401);
        assert_eq!(
            handle(&st, req("GET", "/overrides", Some("s3creT"), "")).status,
            401
        );
        let r = handle(
            &st,
            req(
                "POST",
                "/overrides",
                Some("s3cret"),
                r#"{"target":"site:hq","state":"down"}"#,
            ),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert!(String::from_utf8_lossy(&r.body).contains("site:hq"));
        assert_eq!(
            handle(
                &st,
                req(
                    "POST",
                    "/overrides",
                    Some("s3cret"),
                    r#"{"target":"x","state":"down"}"#
                )
            )
            .status,
            400
        );
        let r = handle(
            &st,
            req("DELETE", "/overrides?target=site%3Ahq", Some("s3cret"), ""),
        );
        assert_eq!(String::from_utf8_lossy(&r.body), "[]");
        let page = String::from_utf8(handle(&st, req("GET", "/", None, "")).body).unwrap();
        assert!(
            page.contains("<td class=\"hq\">hq</td>") && page.contains("generation"),
            "{page}"
        );
        assert!(
            String::from_utf8(handle(&st, req("GET", "/metrics", None, "")).body)
                .unwrap()
                .contains("meridian_")
        );
    }
}
