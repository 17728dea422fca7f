//! Turns the raw [`Spec`] into a typed [`Config`], collecting every problem on the way.
//!
//! Each check reports through [`Ctx::err`] with the span of the offending value, so the
//! final [`Diagnostic`] names file, line, column and the dotted key.

mod anycast;
mod check;
mod cluster;
mod identity;
mod isps;
mod lenient;
mod lvs;
mod server;
mod services;
mod sites;

pub(crate) use isps::parse_cidr;
pub use isps::read_cidr_file;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnet::IpNet;
use toml::Spanned;

use super::spec;
use super::{Config, ConfigError, Diagnostic, ValueError, line_col, types::*};

/// Where validation writes its findings.
pub(super) struct Ctx<'a> {
    text: &'a str,
    file: &'a Path,
    base: PathBuf,
    diags: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    pub(super) fn err(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) {
        let (line, column) = line_col(self.text, span.start);
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.into(),
            message: msg.into(),
        });
    }

    /// Resolve a path from the config against the config file's folder.
    pub(super) fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// An existing file named by the config, or an error at its span.
    pub(super) fn existing_file(&mut self, p: &Spanned<String>, key: &str) -> Option<PathBuf> {
        let path = self.path(p.get_ref());
        match crate::files::regular(&path) {
            Ok(_) => Some(path),
            Err(crate::files::FileError::NotFound { .. }) => {
                self.err(p.span(), key, format!("file not found: {}", path.display()));
                None
            }
            Err(e) => {
                self.err(p.span(), key, e.to_string());
                None
            }
        }
    }

    /// The line and column where `span` starts.
    pub(super) fn pos(&self, span: Range<usize>) -> Pos {
        let (line, column) = line_col(self.text, span.start);
        Pos { line, column }
    }

    pub(super) fn int<T: TryFrom<i64>>(
        &mut self,
        v: &Spanned<i64>,
        key: &str,
        min: i64,
        max: i64,
    ) -> Option<T> {
        let n = *v.get_ref();
        if n < min || n > max {
            self.err(v.span(), key, format!("{n} is out of range {min}..={max}"));
            return None;
        }
        T::try_from(n).ok()
    }

    pub(super) fn ip(&mut self, v: &Spanned<String>, key: &str) -> Option<IpAddr> {
        match v.get_ref().trim().parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    v.span(),
                    key,
                    format!("`{}` is not an IP address", v.get_ref()),
                );
                None
            }
        }
    }

    pub(super) fn sockaddr(&mut self, v: &Spanned<String>, key: &str) -> Option<SocketAddr> {
        match v.get_ref().trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    v.span(),
                    key,
                    format!(
                        "`{}` is not an address:port (IPv6 as [addr]:port)",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn cidr(&mut self, v: &Spanned<String>, key: &str) -> Option<IpNet> {
        match parse_cidr(v.get_ref()) {
            Ok(n) => Some(n),
            Err(msg) => {
                self.err(v.span(), key, msg);
                None
            }
        }
    }

    /// A keyword or other string-spelled value; the error lists what is accepted.
    pub(super) fn parsed<T: FromStr<Err = ValueError>>(
        &mut self,
        v: &Spanned<String>,
        key: &str,
    ) -> Option<T> {
        match v.get_ref().parse::<T>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(v.span(), key, e.to_string());
                None
            }
        }
    }

    pub(super) fn duration(
        &mut self,
        v: &Spanned<String>,
        key: &str,
    ) -> Option<std::time::Duration> {
        match humantime::parse_duration(v.get_ref().trim()) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.err(v.span(), key, "duration must be greater than zero");
                None
            }
            Err(e) => {
                self.err(
                    v.span(),
                    key,
                    format!(
                        "`{}` is not a duration ({e}); use e.g. 500ms, 2s, 1m",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }
}

pub(super) fn validate(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let (spec, unknown) = lenient::read_spec(text, file);
    let Some(spec) = spec else {
        return Err(ConfigError::Invalid(unknown));
    };
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cx = Ctx {
        text,
        file,
        base,
        diags: unknown,
    };
    let mut server = server::server(&mut cx, spec.server.as_ref());
    let geo = isps::geo(&mut cx, spec.geo.as_ref());
    let isps = isps::isps(&mut cx, &spec.isp);
    let sites = sites::sites(&mut cx, &spec.site, &isps);
    let origins = server::zone_origins(&server.zone_files);
    let services = services::services(&mut cx, &spec.service, &sites, &isps, &origins);
    let health = HealthSettings {
        state_file: spec
            .health
            .as_ref()
            .and_then(|h| h.state_file.as_ref())
            .map(|p| cx.path(p.get_ref())),
    };
    let overrides = overrides(&mut cx, &spec.r#override, &sites);
    let lvs = spec.lvs.as_ref().and_then(|l| lvs::lvs(&mut cx, l, &sites));
    let cluster = spec
        .cluster
        .as_ref()
        .and_then(|c| cluster::cluster(&mut cx, c));
    server.identity = identity::identity(&mut cx, spec.server.as_ref(), cluster.as_ref());
    let anycast = spec
        .anycast
        .as_ref()
        .and_then(|a| anycast::anycast(&mut cx, a, &sites, lvs.as_ref()));
    if !cx.diags.is_empty() {
        return Err(ConfigError::Invalid(cx.diags));
    }
    Ok(Config {
        source: file.to_path_buf(),
        server,
        geo,
        isps,
        sites,
        services,
        health,
        overrides,
        lvs,
        cluster,
        anycast,
    })
}

/// A serde/TOML error: locate it and name the key on that line.
fn toml_diag(text: &str, file: &Path, e: &toml::de::Error) -> Diagnostic {
    let start = e.span().map_or(0, |s| s.start);
    let (line, column) = line_col(text, start);
    let key = key_at(text, start);
    let message = e.message().trim().to_string();
    Diagnostic {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message,
    }
}

/// The dotted key for an offset: the enclosing `[table]` header plus the `key =` on its line.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let mut table = String::new();
    for l in text[..line_start].lines().rev() {
        let t = l.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            break;
        }
    }
    let t = line.trim();
    if t.starts_with('[') {
        return t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
    }
    let key = t.split('=').next().unwrap_or("").trim().trim_matches('"');
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

fn overrides(
    cx: &mut Ctx,
    spec: &[spec::OverrideSpec],
    sites: &BTreeMap<String, Site>,
) -> Vec<Override> {
    let mut out = Vec::new();
    for (i, o) in spec.iter().enumerate() {
        let key = format!("override[{i}]");
        let state = match o.state.get_ref().as_str() {
            "up" => OverrideState::Up,
            "down" => OverrideState::Down,
            "drain" => OverrideState::Drain,
            other => {
                cx.err(
                    o.state.span(),
                    format!("{key}.state"),
                    format!("`{other}` is not one of up, down, drain"),
                );
                continue;
            }
        };
        match parse_override_target(o.target.get_ref(), sites) {
            Ok(target) => out.push(Override { target, state }),
            Err(msg) => cx.err(o.target.span(), format!("{key}.target"), msg),
        }
    }
    out
}

/// `site:NAME`, `link:SITE/LINK` or `addr:IP`, checked against the configured sites.
pub fn parse_override_target(
    s: &str,
    sites: &BTreeMap<String, Site>,
) -> Result<OverrideTarget, String> {
    let (kind, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}`: expected site:NAME, link:SITE/LINK or addr:IP"))?;
    match kind {
        "site" if sites.contains_key(rest) => Ok(OverrideTarget::Site(rest.to_string())),
        "site" => Err(format!("no site `{rest}`")),
        "link" => {
            let (site, link) = rest
                .split_once('/')
                .ok_or_else(|| format!("`{s}`: expected link:SITE/LINK"))?;
            match sites.get(site) {
                Some(st) if st.links.contains_key(link) => Ok(OverrideTarget::Link {
                    site: site.into(),
                    link: link.into(),
                }),
                Some(_) => Err(format!("site `{site}` has no link `{link}`")),
                None => Err(format!("no site `{site}`")),
            }
        }
        "addr" => rest
            .parse()
            .map(OverrideTarget::Addr)
            .map_err(|_| format!("`{rest}` is not an IP address")),
        _ => Err(format!(
            "`{s}`: expected site:NAME, link:SITE/LINK or addr:IP"
        )),
    }
}
