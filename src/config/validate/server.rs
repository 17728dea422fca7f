//! `[server]`: listen addresses, zone files (each origin once), the admin endpoint, the
//! limits of the TCP listeners and of zone-file reading, UDP rate limiting and the DNS
//! Cookies secret file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::super::spec::{self, OneOrMany};
use super::super::{AdminSettings, RrlSettings, Server, TcpSettings, ZoneFileRules};
use super::Ctx;

pub(super) fn server(cx: &mut Ctx, s: Option<&spec::ServerSpec>) -> Server {
    let mut listen = Vec::new();
    match s.and_then(|s| s.listen.as_ref()) {
        Some(list) => {
            for (i, a) in list.get_ref().iter().enumerate() {
                if let Some(a) = cx.sockaddr(a, &format!("server.listen[{i}]")) {
                    listen.push(a);
                }
            }
            if list.get_ref().is_empty() {
                cx.err(
                    list.span(),
                    "server.listen",
                    "an empty list would serve nothing; name at least one address:port",
                );
            }
        }
        None => listen.push(SocketAddr::from(([127, 0, 0, 1], 5353))),
    }
    let zones = s.and_then(|s| s.zones.as_ref());
    let zone_files = match zones.map(|z| (z.span(), z.get_ref())) {
        Some((span, OneOrMany::One(p))) => {
            zone_source(cx, &Spanned::new(span, p.clone()), "server.zones")
        }
        Some((span, OneOrMany::Many(list))) => list
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                cx.existing_file(
                    &Spanned::new(span.clone(), p.clone()),
                    &format!("server.zones[{i}]"),
                )
            })
            .collect(),
        None => {
            let dir = cx.path("zones");
            zone_dir(&dir).unwrap_or_default()
        }
    };
    let zones_span = zones.map_or(0..0, Spanned::span);
    unique_zones(cx, &zone_files, zones_span);
    let max_udp_payload = s
        .and_then(|s| s.max_udp_payload.as_ref())
        .map_or(Some(1232), |v| {
            cx.int(v, "server.max_udp_payload", 512, 4096)
        })
        .unwrap_or(1232);
    let udp_threads = s
        .and_then(|s| s.udp_threads.as_ref())
        .map_or(Some(0), |v| cx.int(v, "server.udp_threads", 0, 64))
        .unwrap_or(0);
    let udp_receive_buffer = s
        .and_then(|s| s.udp_receive_buffer.as_ref())
        .and_then(|v| cx.int(v, "server.udp_receive_buffer", 65_536, 1 << 30));
    let admin = s
        .and_then(|s| s.admin.as_ref())
        .and_then(|a| cx.sockaddr(a, "server.admin"));
    if let (Some(a), Some(spec)) = (admin, s.and_then(|s| s.admin.as_ref()))
        && !a.ip().is_loopback()
    {
        cx.err(
            spec.span(),
            "server.admin",
            "the admin endpoint must listen on a loopback address",
        );
    }
    let admin_token_file = s
        .and_then(|s| s.admin_token_file.as_ref())
        .map_or_else(|| cx.path("meridian-admin.token"), |p| cx.path(p.get_ref()));
    let admin_read = s
        .and_then(|s| s.admin_read.as_ref())
        .and_then(|v| cx.parsed(v, "server.admin_read"))
        .unwrap_or_default();
    let query_log = s.and_then(|s| s.query_log).unwrap_or(false);
    if let Some(m) = s.and_then(|s| s.metrics.as_ref()) {
        cx.err(
            m.span(),
            "server.metrics",
            "there is no separate metrics listener: Prometheus metrics are served at /metrics \
             on the admin endpoint; remove `metrics` and set `admin = \"127.0.0.1:8053\"`",
        );
    }
    let (tcp, admin_conn, zone_rules) = match s {
        Some(s) => limits(cx, s),
        None => Default::default(),
    };
    let mut rrl = rrl(cx, s.and_then(|s| s.rrl.as_ref()));
    rrl.prefix_v4 = tcp.limits.prefix_v4;
    rrl.prefix_v6 = tcp.limits.prefix_v6;
    let cookie_secret = s.and_then(|s| s.cookie_secret_file.as_ref()).and_then(|p| {
        let path = cx.path(p.get_ref());
        crate::dns::cookie::CookieSecret::load(&path)
            .map_err(|e| cx.err(p.span(), "server.cookie_secret_file", e.to_string()))
            .ok()
    });
    Server {
        listen,
        zone_files,
        max_udp_payload,
        udp_threads,
        udp_receive_buffer,
        admin,
        admin_token_file,
        admin_read,
        query_log,
        tcp,
        admin_conn,
        zone_rules,
        rrl,
        cookie_secret,
        // Resolved after `[cluster]`, whose node name is the default.
        identity: Default::default(),
        run_as: run_as(cx, s),
    }
}

/// `user` and `group`: resolved now, so that an unknown name is a configuration error.
fn run_as(cx: &mut Ctx, s: Option<&spec::ServerSpec>) -> Option<crate::privilege::RunAs> {
    let s = s?;
    let group = s.group.as_ref();
    let Some(user) = s.user.as_ref() else {
        if let Some(g) = group {
            cx.err(
                g.span(),
                "server.group",
                "`group` needs `user` (the account the process becomes after binding)",
            );
        }
        return None;
    };
    match crate::privilege::resolve(user.get_ref(), group.map(|g| g.get_ref().as_str())) {
        Ok(r) => Some(r),
        Err(e @ crate::privilege::AccountError::NoGroup(_)) => {
            let g = group.map_or(user.span(), Spanned::span);
            cx.err(g, "server.group", e.to_string());
            None
        }
        Err(e) => {
            cx.err(user.span(), "server.user", e.to_string());
            None
        }
    }
}

/// `rrl = { rate, slip, window }`; keys left out keep their defaults.
fn rrl(cx: &mut Ctx, spec: Option<&Spanned<spec::RrlSpec>>) -> RrlSettings {
    let mut r = RrlSettings::default();
    let Some(spec) = spec.map(Spanned::get_ref) else {
        return r;
    };
    if let Some(n) = spec
        .rate
        .as_ref()
        .and_then(|v| cx.int::<u32>(v, "server.rrl.rate", 0, 10_000_000))
    {
        r.rate = n;
    }
    if let Some(n) = spec
        .slip
        .as_ref()
        .and_then(|v| cx.int::<u32>(v, "server.rrl.slip", 0, 100))
    {
        r.slip = n;
    }
    if let Some(d) = spec
        .window
        .as_ref()
        .and_then(|v| cx.duration(v, "server.rrl.window"))
    {
        if d > Duration::from_secs(3600) {
            if let Some(v) = &spec.window {
                cx.err(v.span(), "server.rrl.window", "at most 1h");
            }
        } else {
            r.window = d;
        }
    }
    if let Some(list) = &spec.exempt {
        if list.get_ref().len() > RrlSettings::MAX_EXEMPT {
            cx.err(
                list.span(),
                "server.rrl.exempt",
                format!("at most {} prefixes", RrlSettings::MAX_EXEMPT),
            );
        }
        let nets: Vec<_> = list
            .get_ref()
            .iter()
            .enumerate()
            .filter_map(|(i, v)| cx.cidr(v, &format!("server.rrl.exempt[{i}]")))
            .collect();
        r.exempt = nets.into();
    }
    r
}

/// The connection caps, timeouts and zone-file rules (defaults in `config::limits`).
fn limits(cx: &mut Ctx, s: &spec::ServerSpec) -> (TcpSettings, AdminSettings, ZoneFileRules) {
    let (mut tcp, mut admin, mut zone) = <(TcpSettings, AdminSettings, ZoneFileRules)>::default();
    let count = |cx: &mut Ctx, v: &Option<Spanned<i64>>, key: &str, slot: &mut usize| {
        if let Some(n) = v.as_ref().and_then(|v| cx.int(v, key, 1, 1_000_000)) {
            *slot = n;
        }
    };
    count(
        cx,
        &s.tcp_max_connections,
        "server.tcp_max_connections",
        &mut tcp.limits.max_connections,
    );
    count(
        cx,
        &s.tcp_max_per_prefix,
        "server.tcp_max_per_prefix",
        &mut tcp.limits.max_per_prefix,
    );
    count(
        cx,
        &s.admin_max_connections,
        "server.admin_max_connections",
        &mut admin.limits.max_connections,
    );
    count(
        cx,
        &s.admin_max_per_prefix,
        "server.admin_max_per_prefix",
        &mut admin.limits.max_per_prefix,
    );
    let time = |cx: &mut Ctx, v: &Option<Spanned<String>>, key: &str, slot: &mut Duration| {
        if let Some(d) = v.as_ref().and_then(|v| cx.duration(v, key)) {
            *slot = d;
        }
    };
    time(
        cx,
        &s.tcp_idle_timeout,
        "server.tcp_idle_timeout",
        &mut tcp.idle_timeout,
    );
    time(
        cx,
        &s.tcp_io_timeout,
        "server.tcp_io_timeout",
        &mut tcp.io_timeout,
    );
    time(
        cx,
        &s.admin_timeout,
        "server.admin_timeout",
        &mut admin.timeout,
    );
    if let Some(n) = s
        .client_prefix_v4
        .as_ref()
        .and_then(|v| cx.int::<u8>(v, "server.client_prefix_v4", 0, 32))
    {
        tcp.limits.prefix_v4 = n;
        admin.limits.prefix_v4 = n;
    }
    if let Some(n) = s
        .client_prefix_v6
        .as_ref()
        .and_then(|v| cx.int::<u8>(v, "server.client_prefix_v6", 0, 128))
    {
        tcp.limits.prefix_v6 = n;
        admin.limits.prefix_v6 = n;
    }
    for (l, key) in [(&tcp.limits, "tcp"), (&admin.limits, "admin")] {
        if l.max_per_prefix > l.max_connections
            && let Some(v) = if key == "tcp" {
                &s.tcp_max_per_prefix
            } else {
                &s.admin_max_per_prefix
            }
        {
            cx.err(
                v.span(),
                format!("server.{key}_max_per_prefix"),
                format!(
                    "{} is above {key}_max_connections ({}), so it would never apply",
                    l.max_per_prefix, l.max_connections
                ),
            );
        }
    }
    zone.include_outside_zone_dir = s.include_outside_zone_dir.unwrap_or(false);
    if let Some(n) = s
        .max_zone_file_bytes
        .as_ref()
        .and_then(|v| cx.int::<u64>(v, "server.max_zone_file_bytes", 1024, 1 << 40))
    {
        zone.max_bytes = n;
    }
    (tcp, admin, zone)
}

/// Each zone once: the same file listed twice, or two files for one origin (names that
/// differ only in case or a trailing dot) are refused.
fn unique_zones(cx: &mut Ctx, files: &[PathBuf], span: Range<usize>) {
    let mut seen_files: HashMap<PathBuf, &Path> = HashMap::new();
    let mut seen_origins: HashMap<String, &Path> = HashMap::new();
    for f in files {
        let canonical = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        if let Some(first) = seen_files.insert(canonical, f) {
            cx.err(
                span.clone(),
                "server.zones",
                format!(
                    "{} is listed twice (also as {})",
                    f.display(),
                    first.display()
                ),
            );
            continue;
        }
        let Some(origin) = origin_of(f) else { continue };
        if let Some(first) = seen_origins.insert(origin.clone(), f) {
            cx.err(
                span.clone(),
                "server.zones",
                format!(
                    "zone {origin} comes from two files, {} and {}; keep one",
                    first.display(),
                    f.display()
                ),
            );
        }
    }
}

/// `zones = "dir"` (every `*.zone` inside, sorted) or `zones = "file.zone"`.
fn zone_source(cx: &mut Ctx, p: &Spanned<String>, key: &str) -> Vec<PathBuf> {
    let path = cx.path(p.get_ref());
    if path.is_dir() {
        match zone_dir(&path) {
            Ok(files) if !files.is_empty() => files,
            Ok(_) => {
                cx.err(
                    p.span(),
                    key,
                    format!("no *.zone files in {}", path.display()),
                );
                Vec::new()
            }
            Err(e) => {
                cx.err(
                    p.span(),
                    key,
                    format!("cannot list {}: {e}", path.display()),
                );
                Vec::new()
            }
        }
    } else {
        cx.existing_file(p, key).into_iter().collect()
    }
}

fn zone_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Not only regular files: a FIFO or a folder named `*.zone` is reported when the
        // zone is loaded rather than skipped in silence.
        .filter(|p| p.extension().is_some_and(|x| x == "zone"))
        .collect();
    files.sort();
    Ok(files)
}

/// Zone origins as named by the files (`example.test.zone` -> `example.test.`), lower-case.
pub(super) fn zone_origins(files: &[PathBuf]) -> Vec<String> {
    files.iter().filter_map(|f| origin_of(f)).collect()
}

fn origin_of(file: &Path) -> Option<String> {
    let stem = file.file_stem()?.to_str()?;
    Some(format!(
        "{}.",
        stem.trim_end_matches('.').to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests;
