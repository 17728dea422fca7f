//! The routing rules without a socket: codes, `Allow`, the token, read access, the
//! override and reload operations through fakes.

use std::sync::Mutex;

use super::*;
use crate::admin::api::{BoxFuture, OverrideApi, ReloadApi};

struct Fake(Mutex<Vec<(String, String)>>);

impl OverrideApi for Fake {
    fn list(&self) -> serde_json::Value {
        json!(self.0.lock().unwrap().clone())
    }
    fn set<'a>(
        &'a self,
        t: &'a str,
        s: &'a str,
        _: &'a OverrideMeta,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if !t.contains(':') {
                return Err(format!("bad target {t}"));
            }
            self.0.lock().unwrap().push((t.into(), s.into()));
            Ok(())
        })
    }
    fn clear<'a>(&'a self, t: &'a str, _: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0.lock().unwrap().retain(|(x, _)| x != t);
            Ok(())
        })
    }
}

/// Refuses when the flag is set, else applies generation 2.
struct FakeReload(bool);

impl ReloadApi for FakeReload {
    fn reload(&self) -> BoxFuture<'_, ReloadOutcome> {
        Box::pin(async move {
            if self.0 {
                ReloadOutcome::Refused(vec!["m.toml:3:1: service.www.ttl: not a number".into()])
            } else {
                ReloadOutcome::Applied {
                    generation: 2,
                    digest: "00ff".into(),
                    loaded_at_ms: 1,
                    zone_errors: Vec::new(),
                }
            }
        })
    }
}

fn state(read: AdminRead, refuse: bool) -> AdminState {
    AdminState {
        token: "s3cret".into(),
        read,
        status: Box::new(|| json!({"generation": 3, "sites": [{"site": "hq", "state": "up"}]})),
        overrides: Some(Box::new(Fake(Mutex::new(Vec::new())))),
        reload: Some(Box::new(FakeReload(refuse))),
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

fn run(st: &AdminState, r: Request) -> Response {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(handle(st, r))
}

#[test]
fn overrides_need_the_token_and_work_with_it() {
    let st = state(AdminRead::Open, false);
    let r = run(&st, req("GET", "/overrides", None, ""));
    assert_eq!(r.status, 401);
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| *k == "www-authenticate" && v.starts_with("Bearer"))
    );
    assert_eq!(
        run(&st, req("GET", "/overrides", Some("s3creT"), "")).status,
        401
    );
    assert_eq!(
        run(&st, req("GET", "/overrides", Some("s3cre"), "")).status,
        401
    );
    let set = r#"{"target":"site:hq","state":"down"}"#;
    assert_eq!(run(&st, req("POST", "/overrides", None, set)).status, 401);
    let r = run(&st, req("POST", "/overrides", Some("s3cret"), set));
    assert_eq!(r.status, 200, "{}", r.body_text());
    assert!(r.body_text().contains("site:hq"));
    let r = run(
        &st,
        req(
            "POST",
            "/overrides",
            Some("s3cret"),
            r#"{"target":"x","state":"down"}"#,
        ),
    );
    assert_eq!((r.status, r.body_text()), (400, "bad target x\n".into()));
    let r = run(
        &st,
        req("DELETE", "/overrides?target=site%3Ahq", Some("s3cret"), ""),
    );
    assert_eq!(r.body_text(), "[]");
    let r = run(&st, req("DELETE", "/overrides", Some("s3cret"), ""));
    assert_eq!(r.status, 400);
}

#[test]
fn bad_json_is_400_with_the_parser_message() {
    let st = state(AdminRead::Open, false);
    let r = run(
        &st,
        req("POST", "/overrides", Some("s3cret"), "{\"target\": "),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body_text().contains("EOF while parsing"),
        "{}",
        r.body_text()
    );
    let r = run(
        &st,
        req(
            "POST",
            "/overrides",
            Some("s3cret"),
            r#"{"target":"site:hq"}"#,
        ),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body_text().contains("missing field `state`"),
        "{}",
        r.body_text()
    );
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let st = state(AdminRead::Open, false);
    assert_eq!(run(&st, req("GET", "/nope", None, "")).status, 404);
    let r = run(&st, req("GET", "/reload", Some("s3cret"), ""));
    assert_eq!(r.status, 405);
    assert_eq!(r.headers, vec![("allow", "POST".to_string())]);
    let r = run(&st, req("PUT", "/overrides", None, ""));
    assert_eq!(r.status, 405);
    assert_eq!(r.headers, vec![("allow", "GET, POST, DELETE".to_string())]);
    assert_eq!(run(&st, req("POST", "/status", None, "")).status, 405);
}

#[test]
fn read_views_are_open_or_need_the_token_as_configured() {
    let open = state(AdminRead::Open, false);
    assert_eq!(run(&open, req("GET", "/status", None, "")).status, 200);
    let m = run(&open, req("GET", "/metrics", None, ""));
    assert!(m.status == 200 && m.body_text().contains("meridian_"));
    let closed = state(AdminRead::Token, false);
    assert_eq!(run(&closed, req("GET", "/status", None, "")).status, 401);
    assert_eq!(
        run(&closed, req("GET", "/metrics", Some("x"), "")).status,
        401
    );
    let r = run(&closed, req("GET", "/status", Some("s3cret"), ""));
    assert_eq!(r.status, 200);
    assert!(r.body_text().contains("\"generation\":3"));
    // The page stays reachable: it holds no data and reads /status with the token itself.
    let page = run(&closed, req("GET", "/", None, ""));
    assert_eq!(page.status, 200);
    let body = page.body_text();
    assert!(body.contains("<title>Meridian status</title>"), "{body}");
    assert!(
        !body.contains("\"generation\":3"),
        "the page holds no data: {body}"
    );
    let with = run(&closed, req("GET", "/", Some("s3cret"), ""));
    assert_eq!(with.status, 200);
    assert!(with.body_text().contains("<title>Meridian status</title>"));
}

#[test]
fn reload_needs_the_token_and_reports_success_or_every_error() {
    let st = state(AdminRead::Open, false);
    assert_eq!(run(&st, req("POST", "/reload", None, "")).status, 401);
    let r = run(&st, req("POST", "/reload", Some("s3cret"), ""));
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (v["generation"].as_u64(), v["digest"].as_str()),
        (Some(2), Some("00ff"))
    );
    let st = state(AdminRead::Open, true);
    let r = run(&st, req("POST", "/reload", Some("s3cret"), ""));
    assert_eq!(r.status, 422);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["errors"][0], "m.toml:3:1: service.www.ttl: not a number");
    let none = AdminState {
        reload: None,
        overrides: None,
        ..state(AdminRead::Open, false)
    };
    assert_eq!(
        run(&none, req("POST", "/reload", Some("s3cret"), "")).status,
        503
    );
    assert_eq!(
        run(&none, req("GET", "/overrides", Some("s3cret"), "")).status,
        503
    );
}
