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
            content_type: "text/plain; version=0.0.4",
            body: crate::metrics::METRICS.render().into_bytes(),
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

/// Escapes text for HTML content and for quoted attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A plain HTML rendering of the status document: one table per top-level list.
fn status_page(v: &serde_json::Value) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>Meridian</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;border-bottom:1px solid #ddd}\
         .up{color:green}.down{color:#b00}.drain{color:#a60}\
         .warn{background:#fdd;border:1px solid #b00;padding:6px}</style></head><body><h1>Meridian</h1>",
    );
    if let Some(list) = v["cluster"]["divergent"]
        .as_array()
        .filter(|l| !l.is_empty())
    {
        let names: Vec<String> = list
            .iter()
            .map(|n| esc(n.as_str().unwrap_or("?")))
            .collect();
        html.push_str(&format!(
            "<p class=warn>Configuration differs from this node's on: {} (answering is not affected)</p>",
            names.join(", ")
        ));
    }
    section(&mut html, v, 2);
    html.push_str("<p><a href=\"/metrics\">metrics</a> · <a href=\"/status\">status.json</a></p></body></html>");
    html
}

/// One object: arrays of objects as tables, nested objects as sub-sections, the rest as lines.
fn section(html: &mut String, v: &serde_json::Value, level: u8) {
    let Some(obj) = v.as_object() else { return };
    for (k, val) in obj {
        match val {
            serde_json::Value::Array(rows)
                if rows.iter().all(|r| r.is_object()) && !rows.is_empty() =>
            {
                html.push_str(&format!("<h{level}>{}</h{level}><table>", esc(k)));
                if let Some(first) = rows.first().and_then(|r| r.as_object()) {
                    html.push_str("<tr>");
                    for h in first.keys() {
                        html.push_str(&format!("<th>{}</th>", esc(h)));
                    }
                    html.push_str("</tr>");
                }
                for r in rows {
                    html.push_str("<tr>");
                    if let Some(o) = r.as_object() {
                        for c in o.values() {
                            let t = c.as_str().map_or_else(|| c.to_string(), str::to_string);
                            html.push_str(&format!("<td class=\"{0}\">{0}</td>", esc(&t)));
                        }
                    }
                    html.push_str("</tr>");
                }
                html.push_str("</table>");
            }
            serde_json::Value::Object(_) if level < 4 => {
                html.push_str(&format!("<h{level}>{}</h{level}>", esc(k)));
                section(html, val, level + 1);
            }
            other => {
                let t = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string);
                html.push_str(&format!("<p><b>{}</b>: {}</p>", esc(k), esc(&t)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_page_escapes_attributes_and_flags_divergence() {
        let v = serde_json::json!({
            "targets": [{"site": "x\" onmouseover=\"alert(1)", "state": "up"}],
            "cluster": {"node": "a", "divergent": ["b"], "peers": [{"node": "b", "liveness": "alive"}]},
        });
        let html = status_page(&v);
        assert!(!html.contains("\" onmouseover"), "{html}");
        assert!(html.contains("&quot; onmouseover=&quot;"), "{html}");
        assert!(
            html.contains("class=warn>Configuration differs from this node's on: b"),
            "{html}"
        );
        assert!(html.contains("<h3>peers</h3>"), "{html}");
    }
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
