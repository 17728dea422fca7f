//! Validation of `[service.*]` tables and their `[[route]]` rules.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use super::{Ctx, check::check};
use crate::config::spec::{FallbackSpec, MatchSpec, RouteSpec, ServiceSpec};
use crate::config::types::{Fallback, Isp, LinkFallback, Match, Mode, Route, Service, Site, Spill};

const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

pub(super) fn services(
    cx: &mut Ctx,
    spec: &BTreeMap<Spanned<String>, ServiceSpec>,
    sites: &BTreeMap<String, Site>,
    isps: &BTreeMap<String, Isp>,
    origins: &[String],
) -> BTreeMap<String, Service> {
    let mut out = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (id, s) in spec {
        let key = format!("service.{}", id.get_ref());
        let fqdn = format!(
            "{}.",
            s.name.get_ref().trim_end_matches('.').to_ascii_lowercase()
        );
        if !origins
            .iter()
            .any(|o| fqdn == *o || fqdn.ends_with(&format!(".{o}")))
        {
            cx.err(
                s.name.span(),
                format!("{key}.name"),
                format!(
                    "`{}` is not inside any served zone ({})",
                    s.name.get_ref(),
                    origins.join(", ")
                ),
            );
        }
        if let Some(other) = names.insert(fqdn.clone(), id.get_ref().clone()) {
            cx.err(
                s.name.span(),
                format!("{key}.name"),
                format!("`{fqdn}` is already bound to service `{other}`"),
            );
        }
        let ttl = s
            .ttl
            .as_ref()
            .map_or(Some(30), |t| {
                cx.int(t, &format!("{key}.ttl"), 0, i32::MAX as i64)
            })
            .unwrap_or(30);
        let ttl_degraded = s
            .ttl_degraded
            .as_ref()
            .map_or(Some(ttl.min(10)), |t| {
                cx.int(t, &format!("{key}.ttl_degraded"), 0, i32::MAX as i64)
            })
            .unwrap_or(ttl.min(10));
        if let Some(t) = &s.ttl_degraded
            && ttl_degraded > ttl
        {
            cx.err(
                t.span(),
                format!("{key}.ttl_degraded"),
                format!("{ttl_degraded} must not exceed ttl ({ttl})"),
            );
        }
        let spill = s.spill.as_ref().map_or(Spill::Next, |v| {
            keyword(
                cx,
                v,
                &format!("{key}.spill"),
                &[("next", Spill::Next), ("capacity", Spill::Capacity)],
            )
        });
        let link_fallback = s.link_fallback.as_ref().map_or(LinkFallback::Default, |v| {
            keyword(
                cx,
                v,
                &format!("{key}.link_fallback"),
                &[
                    ("default", LinkFallback::Default),
                    ("any", LinkFallback::Any),
                ],
            )
        });
        let site_list = site_list(cx, &s.sites, sites, &format!("{key}.sites"));
        let mode = s
            .mode
            .as_ref()
            .and_then(|m| mode(cx, m, &format!("{key}.mode")))
            .unwrap_or(Mode::Failover);
        let mut weights = BTreeMap::new();
        for (site, w) in &s.weights {
            let wk = format!("{key}.weights.{}", site.get_ref());
            if !site_list.contains(site.get_ref()) {
                cx.err(
                    site.span(),
                    &wk,
                    format!("`{}` is not in this service's sites", site.get_ref()),
                );
            }
            if let Some(w) = cx.int(w, &wk, 0, 1_000_000) {
                weights.insert(site.get_ref().clone(), w);
            }
        }
        refuse_unused_weights(cx, s, &key);
        // A site without a weight counts 1: refused only when every listed site is 0.
        if mode == Mode::Weighted
            && !site_list.is_empty()
            && site_list
                .iter()
                .all(|n| weights.get(n).copied().unwrap_or(1) == 0)
        {
            cx.err(
                id.span(),
                format!("{key}.weights"),
                "mode = \"weighted\" needs at least one site weight above 0",
            );
        }
        if mode == Mode::Nearest {
            for name in &site_list {
                if sites.get(name).is_some_and(|s| s.location.is_none()) {
                    cx.err(
                        s.sites.span(),
                        format!("{key}.sites"),
                        format!("mode = \"nearest\" needs a location for site `{name}`"),
                    );
                }
            }
        }
        let fallback = s.fallback.as_ref().map_or(Fallback::All, |f| {
            fallback(cx, f, &format!("{key}.fallback"))
        });
        let chk = s
            .check
            .as_ref()
            .and_then(|c| check(cx, c, &format!("{key}.check")));
        if let (Some(c), Some(spec)) = (&chk, &s.check)
            && c.port.is_none()
            && matches!(c.kind, crate::config::types::CheckKind::Tcp)
        {
            cx.err(
                spec.span(),
                format!("{key}.check.port"),
                "a tcp check of a service needs `port`",
            );
        }
        let routes = s
            .route
            .iter()
            .enumerate()
            .filter_map(|(i, r)| route(cx, r, sites, isps, &format!("{key}.route[{i}]")))
            .collect();
        out.insert(
            id.get_ref().clone(),
            Service {
                name: s.name.get_ref().clone(),
                fqdn,
                name_pos: cx.pos(s.name.span()),
                ttl,
                ttl_degraded,
                sites: site_list,
                mode,
                weights,
                spill,
                link_fallback,
                fallback,
                check: chk,
                routes,
            },
        );
    }
    out
}

fn site_list(
    cx: &mut Ctx,
    list: &Spanned<Vec<Spanned<String>>>,
    sites: &BTreeMap<String, Site>,
    key: &str,
) -> Vec<String> {
    if list.get_ref().is_empty() {
        cx.err(list.span(), key, "at least one site is needed");
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, s) in list.get_ref().iter().enumerate() {
        if !sites.contains_key(s.get_ref()) {
            cx.err(
                s.span(),
                format!("{key}[{i}]"),
                format!("no [site.{}] is defined", s.get_ref()),
            );
        } else if !seen.insert(s.get_ref().clone()) {
            cx.err(
                s.span(),
                format!("{key}[{i}]"),
                format!("site `{}` is listed twice", s.get_ref()),
            );
        } else {
            out.push(s.get_ref().clone());
        }
    }
    out
}

fn parse_mode(m: &str) -> Option<Mode> {
    match m {
        "failover" => Some(Mode::Failover),
        "all" => Some(Mode::All),
        "weighted" => Some(Mode::Weighted),
        "nearest" => Some(Mode::Nearest),
        _ => None,
    }
}

fn mode(cx: &mut Ctx, m: &Spanned<String>, key: &str) -> Option<Mode> {
    let mode = parse_mode(m.get_ref());
    if mode.is_none() {
        cx.err(
            m.span(),
            key,
            format!(
                "`{}` is not one of failover, all, weighted, nearest",
                m.get_ref()
            ),
        );
    }
    mode
}

/// `weights` do something only where mode = "weighted" (the service's or a route's). A
/// misspelt mode has its own error, so it does not add this one.
fn refuse_unused_weights(cx: &mut Ctx, s: &ServiceSpec, key: &str) {
    let Some((first, _)) = s.weights.iter().next() else {
        return;
    };
    let may_weigh = |m: &Option<Spanned<String>>| {
        m.as_ref()
            .is_some_and(|m| parse_mode(m.get_ref()).is_none_or(|m| m == Mode::Weighted))
    };
    if !may_weigh(&s.mode) && !s.route.iter().any(|r| may_weigh(&r.mode)) {
        cx.err(
            first.span(),
            format!("{key}.weights"),
            "`weights` apply only with mode = \"weighted\" (on the service or one of its routes)",
        );
    }
}

/// One of a fixed set of words; an error listing them otherwise (the first is the default).
fn keyword<T: Copy>(cx: &mut Ctx, v: &Spanned<String>, key: &str, words: &[(&str, T)]) -> T {
    match words.iter().find(|(w, _)| *w == v.get_ref().as_str()) {
        Some(&(_, t)) => t,
        None => {
            let names: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
            cx.err(
                v.span(),
                key,
                format!("`{}` is not one of {}", v.get_ref(), names.join(", ")),
            );
            words[0].1
        }
    }
}

fn fallback(cx: &mut Ctx, f: &Spanned<FallbackSpec>, key: &str) -> Fallback {
    match f.get_ref() {
        FallbackSpec::Keyword(k) => match k.as_str() {
            "all" => Fallback::All,
            "none" => Fallback::None,
            other => {
                cx.err(
                    f.span(),
                    key,
                    format!("`{other}` is not one of all, none, or a list of addresses"),
                );
                Fallback::All
            }
        },
        FallbackSpec::Addrs(list) => Fallback::Addrs(
            list.iter()
                .enumerate()
                .filter_map(|(i, a)| {
                    cx.ip(&Spanned::new(f.span(), a.clone()), &format!("{key}[{i}]"))
                })
                .collect(),
        ),
    }
}

fn route(
    cx: &mut Ctx,
    r: &RouteSpec,
    sites: &BTreeMap<String, Site>,
    isps: &BTreeMap<String, Isp>,
    key: &str,
) -> Option<Route> {
    let m: &MatchSpec = r.r#match.get_ref();
    let mk = format!("{key}.match");
    let mut matcher = Match::default();
    for c in &m.continent {
        let v = c.get_ref().to_ascii_uppercase();
        if !CONTINENTS.contains(&v.as_str()) {
            cx.err(
                c.span(),
                format!("{mk}.continent"),
                format!(
                    "`{}` is not a continent code ({})",
                    c.get_ref(),
                    CONTINENTS.join(" ")
                ),
            );
        }
        matcher.continents.push(v);
    }
    for c in &m.country {
        let v = c.get_ref().to_ascii_uppercase();
        if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_alphabetic()) {
            cx.err(
                c.span(),
                format!("{mk}.country"),
                format!("`{}` is not an ISO 3166-1 alpha-2 code", c.get_ref()),
            );
        }
        matcher.countries.push(v);
    }
    for c in &m.subdivision {
        matcher.subdivisions.push(c.get_ref().to_ascii_uppercase());
    }
    for a in &m.asn {
        if let Some(v) = cx.int(a, &format!("{mk}.asn"), 0, u32::MAX as i64) {
            matcher.asns.push(v);
        }
    }
    for i in &m.isp {
        if !isps.contains_key(i.get_ref()) {
            cx.err(
                i.span(),
                format!("{mk}.isp"),
                format!("no [isp.{}] is defined", i.get_ref()),
            );
        }
        matcher.isps.push(i.get_ref().clone());
    }
    for (n, c) in m.cidr.iter().enumerate() {
        if let Some(net) = cx.cidr(c, &format!("{mk}.cidr[{n}]")) {
            matcher.cidrs.push(net);
        }
    }
    if matcher == Match::default() {
        cx.err(r.r#match.span(), &mk, "an empty match would catch every client; give at least one of continent, country, subdivision, asn, isp, cidr");
    }
    let site_names = site_list(cx, &r.sites, sites, &format!("{key}.sites"));
    let mode = r
        .mode
        .as_ref()
        .and_then(|m| mode(cx, m, &format!("{key}.mode")));
    Some(Route {
        matcher,
        sites: site_names,
        mode,
    })
}

#[cfg(test)]
mod tests;
