//! Validation of one `check = { ... }` table, shared by services and LVS.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::Ctx;
use crate::config::keywords::{HttpMethod, QType, Rcode};
use crate::config::spec::{CheckSpec, ExpectSpec};
use crate::config::types::{Check, CheckKind, StartState};

pub(in crate::config) fn check(cx: &mut Ctx, c: &Spanned<CheckSpec>, key: &str) -> Option<Check> {
    let s = c.get_ref();
    let ty = s.r#type.get_ref().as_str();
    if matches!(ty, "tcp" | "http" | "https" | "dns" | "exec") {
        refuse_foreign_keys(cx, s, ty, key);
    }
    let kind = match ty {
        "tcp" => CheckKind::Tcp,
        "http" | "https" => {
            let expect = match s.expect.as_ref().map(|e| (e.span(), e.get_ref())) {
                None => vec![200],
                Some((span, ExpectSpec::One(n))) => status(cx, span, key, &[*n]),
                Some((span, ExpectSpec::Many(v))) => status(cx, span, key, v),
            };
            let method = s
                .method
                .as_ref()
                .and_then(|m| cx.parsed::<HttpMethod>(m, &format!("{key}.method")))
                .unwrap_or_default();
            let path = s.path.as_ref().map_or("/", |p| p.get_ref().as_str());
            if !path.starts_with('/')
                && let Some(p) = &s.path
            {
                cx.err(p.span(), format!("{key}.path"), "path must start with /");
            }
            CheckKind::Http {
                https: ty == "https",
                method,
                path: path.to_string(),
                host: s.host.as_ref().map(|h| h.get_ref().clone()),
                expect,
                body: s.body.as_ref().map(|b| b.get_ref().clone()),
                tls_verify: s.tls_verify.as_ref().is_none_or(|v| *v.get_ref()),
            }
        }
        "dns" => {
            let Some(q) = &s.query else {
                cx.err(
                    c.span(),
                    format!("{key}.query"),
                    "a dns check needs `query` (a name to ask)",
                );
                return None;
            };
            let qtype = s
                .qtype
                .as_ref()
                .and_then(|t| cx.parsed::<QType>(t, &format!("{key}.qtype")))
                .unwrap_or_default();
            let rcode = s
                .rcode
                .as_ref()
                .and_then(|r| cx.parsed::<Rcode>(r, &format!("{key}.rcode")))
                .unwrap_or_default();
            CheckKind::Dns {
                query: q.get_ref().clone(),
                qtype,
                rcode,
                answer: s.answer.as_ref().map(|a| a.get_ref().clone()),
            }
        }
        "exec" => match &s.command {
            Some(cmd) if !cmd.get_ref().is_empty() => CheckKind::Exec {
                command: cmd.get_ref().clone(),
            },
            _ => {
                cx.err(
                    c.span(),
                    format!("{key}.command"),
                    "an exec check needs `command = [\"prog\", \"arg\"...]`",
                );
                return None;
            }
        },
        other => {
            cx.err(
                s.r#type.span(),
                format!("{key}.type"),
                format!("`{other}` is not one of tcp, http, https, dns, exec"),
            );
            return None;
        }
    };
    let port = s
        .port
        .as_ref()
        .and_then(|p| cx.int(p, &format!("{key}.port"), 1, 65535));
    let interval = dur(
        cx,
        s.interval.as_ref(),
        &format!("{key}.interval"),
        Duration::from_secs(1),
    );
    let timeout = dur(
        cx,
        s.timeout.as_ref(),
        &format!("{key}.timeout"),
        Duration::from_millis(500).min(interval),
    );
    if timeout > interval
        && let Some(t) = &s.timeout
    {
        cx.err(
            t.span(),
            format!("{key}.timeout"),
            "timeout must not exceed interval",
        );
    }
    let rise = s
        .rise
        .as_ref()
        .map_or(Some(2), |v| cx.int(v, &format!("{key}.rise"), 1, 100))
        .unwrap_or(2);
    let fall = s
        .fall
        .as_ref()
        .map_or(Some(2), |v| cx.int(v, &format!("{key}.fall"), 1, 100))
        .unwrap_or(2);
    let start = match s.start.as_ref().map(|v| (v.span(), v.get_ref().as_str())) {
        // Up until the first result unless told otherwise: a fresh start answers at once.
        None | Some((_, "up")) => StartState::Up,
        Some((_, "down")) => StartState::Down,
        Some((span, other)) => {
            cx.err(
                span,
                format!("{key}.start"),
                format!("`{other}` is not one of up, down"),
            );
            StartState::Down
        }
    };
    Some(Check {
        kind,
        port,
        interval,
        timeout,
        rise,
        fall,
        start,
    })
}

/// Keys that only some check types read: for another type they would do nothing, so they are
/// refused rather than silently ignored.
fn refuse_foreign_keys(cx: &mut Ctx, s: &CheckSpec, ty: &str, key: &str) {
    fn at<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
        v.as_ref().map(Spanned::span)
    }
    /// Key name, where it was given (if it was), the check types that read it.
    type Rule<'a> = (&'a str, Option<Range<usize>>, &'a [&'a str]);
    const HTTP: &[&str] = &["http", "https"];
    let keys: [Rule; 11] = [
        ("path", at(&s.path), HTTP),
        ("method", at(&s.method), HTTP),
        ("host", at(&s.host), HTTP),
        ("expect", at(&s.expect), HTTP),
        ("body", at(&s.body), HTTP),
        ("tls_verify", at(&s.tls_verify), &["https"]),
        ("query", at(&s.query), &["dns"]),
        ("qtype", at(&s.qtype), &["dns"]),
        ("rcode", at(&s.rcode), &["dns"]),
        ("answer", at(&s.answer), &["dns"]),
        ("command", at(&s.command), &["exec"]),
    ];
    for (name, span, types) in keys {
        if let Some(span) = span
            && !types.contains(&ty)
        {
            cx.err(
                span,
                format!("{key}.{name}"),
                format!(
                    "`{name}` applies only to {} checks, and this one is type = \"{ty}\"",
                    types.join(" and ")
                ),
            );
        }
    }
}

fn status(cx: &mut Ctx, span: std::ops::Range<usize>, key: &str, codes: &[i64]) -> Vec<u16> {
    let mut out = Vec::new();
    for &c in codes {
        match u16::try_from(c) {
            Ok(v) if (100..=599).contains(&v) => out.push(v),
            _ => cx.err(
                span.clone(),
                format!("{key}.expect"),
                format!("{c} is not an HTTP status (100..=599)"),
            ),
        }
    }
    out
}

fn dur(cx: &mut Ctx, v: Option<&Spanned<String>>, key: &str, default: Duration) -> Duration {
    v.map_or(Some(default), |v| cx.duration(v, key))
        .unwrap_or(default)
}
