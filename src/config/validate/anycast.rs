//! Validation of `[anycast]`: the backend, each prefix's conditions (checked against the
//! sites and the `[lvs]` VIPs they name), thresholds, demotion and the BFD responder.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use toml::Spanned;

use super::Ctx;
use crate::config::spec::{AnycastPrefixSpec, AnycastSpec, DemoteSpec};
use crate::config::types::{
    Anycast, AnycastBackend, AnycastCondition, AnycastPrefix, BfdListen, Demote, Lvs, Site,
    VirtualKey,
};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_BFD_INTERVAL: Duration = Duration::from_millis(100);

pub(super) fn anycast(
    cx: &mut Ctx,
    a: &AnycastSpec,
    sites: &BTreeMap<String, Site>,
    lvs: Option<&Lvs>,
) -> Option<Anycast> {
    let backend = match a.backend.get_ref().as_str() {
        "bird" => match &a.bird_socket {
            Some(s) => Some(AnycastBackend::Bird {
                socket: cx.path(s.get_ref()),
            }),
            None => {
                cx.err(
                    a.backend.span(),
                    "anycast.bird_socket",
                    "backend = \"bird\" needs bird_socket (the path of BIRD's control socket)",
                );
                None
            }
        },
        "exabgp" => {
            if let Some(s) = &a.bird_socket {
                cx.err(
                    s.span(),
                    "anycast.bird_socket",
                    "only for backend = \"bird\"",
                );
            }
            watchdog(cx, a).map(|watchdog| AnycastBackend::Exabgp { watchdog })
        }
        other => {
            cx.err(
                a.backend.span(),
                "anycast.backend",
                format!("`{other}` is not one of bird, exabgp"),
            );
            None
        }
    };
    if a.backend.get_ref() != "exabgp"
        && let Some(w) = &a.exabgp_watchdog
    {
        cx.err(
            w.span(),
            "anycast.exabgp_watchdog",
            "only for backend = \"exabgp\"",
        );
    }
    let bird = matches!(backend, Some(AnycastBackend::Bird { .. }));
    let grace = opt_duration(cx, a.grace.as_ref(), "anycast.grace", true);
    let drain = opt_duration(cx, a.drain.as_ref(), "anycast.drain", true);
    let disable_file = a.disable_file.as_ref().map(|p| cx.path(p.get_ref()));
    let bfd = bfd(cx, a);
    let mut seen = BTreeSet::new();
    let mut prefixes = Vec::new();
    for (i, p) in a.prefix.iter().enumerate() {
        let key = format!("anycast.prefix[{i}]");
        if let Some(px) = prefix(cx, p, &key, bird, sites, lvs) {
            if !seen.insert(px.prefix) {
                cx.err(p.prefix.span(), &key, "this prefix is listed twice");
            }
            prefixes.push(px);
        }
    }
    Some(Anycast {
        backend: backend?,
        grace: grace?.unwrap_or(Anycast::DEFAULT_GRACE),
        drain: drain?.unwrap_or(Anycast::DEFAULT_DRAIN),
        disable_file,
        bfd: bfd?,
        prefixes,
    })
}

/// `exabgp_watchdog`: 100ms..60s, default 1s.
fn watchdog(cx: &mut Ctx, a: &AnycastSpec) -> Option<Duration> {
    let Some(w) = &a.exabgp_watchdog else {
        return Some(AnycastBackend::DEFAULT_EXABGP_WATCHDOG);
    };
    let d = cx.duration(w, "anycast.exabgp_watchdog")?;
    if (Duration::from_millis(100)..=Duration::from_secs(60)).contains(&d) {
        Some(d)
    } else {
        cx.err(
            w.span(),
            "anycast.exabgp_watchdog",
            "must be between 100ms and 60s",
        );
        None
    }
}

/// None: invalid; Some(None): not given. `zero_ok` accepts "0s".
fn opt_duration(
    cx: &mut Ctx,
    v: Option<&Spanned<String>>,
    key: &str,
    zero_ok: bool,
) -> Option<Option<Duration>> {
    let Some(v) = v else { return Some(None) };
    if zero_ok && humantime::parse_duration(v.get_ref().trim()).is_ok_and(|d| d.is_zero()) {
        return Some(Some(Duration::ZERO));
    }
    cx.duration(v, key).map(Some)
}

fn bfd(cx: &mut Ctx, a: &AnycastSpec) -> Option<Option<BfdListen>> {
    let Some(l) = &a.bfd_listen else {
        for (given, key) in [
            (
                a.bfd_interval.as_ref().map(Spanned::span),
                "anycast.bfd_interval",
            ),
            (
                a.bfd_multiplier.as_ref().map(Spanned::span),
                "anycast.bfd_multiplier",
            ),
        ] {
            if let Some(span) = given {
                cx.err(span, key, "needs bfd_listen");
            }
        }
        return Some(None);
    };
    let addr = cx.ip(l, "anycast.bfd_listen");
    let interval = match &a.bfd_interval {
        None => Some(DEFAULT_BFD_INTERVAL),
        Some(v) => cx.duration(v, "anycast.bfd_interval").and_then(|d| {
            if (Duration::from_millis(10)..=Duration::from_secs(10)).contains(&d) {
                Some(d)
            } else {
                cx.err(
                    v.span(),
                    "anycast.bfd_interval",
                    "must be between 10ms and 10s",
                );
                None
            }
        }),
    };
    let multiplier = match &a.bfd_multiplier {
        None => Some(3),
        Some(m) => cx.int::<u8>(m, "anycast.bfd_multiplier", 1, 255),
    };
    Some(Some(BfdListen {
        addr: addr?,
        interval: interval?,
        multiplier: multiplier?,
    }))
}

fn prefix(
    cx: &mut Ctx,
    p: &AnycastPrefixSpec,
    key: &str,
    bird: bool,
    sites: &BTreeMap<String, Site>,
    lvs: Option<&Lvs>,
) -> Option<AnycastPrefix> {
    let prefix = cx.cidr(&p.prefix, &format!("{key}.prefix"));
    let bird_protocol = protocol_name(
        cx,
        p.bird_protocol.as_ref(),
        &format!("{key}.bird_protocol"),
    );
    if bird && p.bird_protocol.is_none() {
        cx.err(
            p.prefix.span(),
            format!("{key}.bird_protocol"),
            "backend = \"bird\" needs the name of the operator's static protocol for this prefix",
        );
    }
    if !bird && let Some(b) = &p.bird_protocol {
        cx.err(
            b.span(),
            format!("{key}.bird_protocol"),
            "only for backend = \"bird\"",
        );
    }
    if p.when.is_empty() {
        cx.err(
            p.prefix.span(),
            format!("{key}.when"),
            "give at least one condition: \"dns\", \"vip:ADDR\", \"site:NAME\" or \"addr:IP\"",
        );
    }
    let mut when = Vec::new();
    for (j, w) in p.when.iter().enumerate() {
        if let Some(c) = condition(cx, w, &format!("{key}.when[{j}]"), sites, lvs) {
            when.push(c);
        }
    }
    let rise = p
        .rise
        .as_ref()
        .map_or(Some(2), |r| cx.int(r, &format!("{key}.rise"), 1, 100));
    let fall = p
        .fall
        .as_ref()
        .map_or(Some(2), |r| cx.int(r, &format!("{key}.fall"), 1, 100));
    let interval = match &p.interval {
        None => Some(DEFAULT_INTERVAL),
        Some(i) => cx.duration(i, &format!("{key}.interval")),
    };
    let demote = match &p.demote {
        None => Some(None),
        Some(d) => demote(cx, d, &format!("{key}.demote"), bird).map(Some),
    };
    let next_hop = match &p.next_hop {
        None => Some("self".to_string()),
        Some(n) if n.get_ref() == "self" => Some("self".to_string()),
        Some(n) => cx
            .ip(n, &format!("{key}.next_hop"))
            .map(|ip| ip.to_string()),
    };
    if bird && let Some(n) = &p.next_hop {
        cx.err(
            n.span(),
            format!("{key}.next_hop"),
            "only for backend = \"exabgp\" (BIRD's static protocol holds it)",
        );
    }
    Some(AnycastPrefix {
        prefix: prefix?,
        bird_protocol: bird_protocol?,
        when,
        rise: rise?,
        fall: fall?,
        interval: interval?,
        demote: demote?,
        disable_file: p.disable_file.as_ref().map(|f| cx.path(f.get_ref())),
        next_hop: next_hop?,
    })
}

/// A BIRD protocol name: a symbol BIRD's configuration accepts (letters, digits, `_`).
fn protocol_name(cx: &mut Ctx, v: Option<&Spanned<String>>, key: &str) -> Option<Option<String>> {
    let Some(v) = v else { return Some(None) };
    let name = v.get_ref();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Some(Some(name.clone()))
    } else {
        cx.err(
            v.span(),
            key,
            format!("`{name}` is not a BIRD protocol name (letters, digits, `_`)"),
        );
        None
    }
}

fn condition(
    cx: &mut Ctx,
    w: &Spanned<String>,
    key: &str,
    sites: &BTreeMap<String, Site>,
    lvs: Option<&Lvs>,
) -> Option<AnycastCondition> {
    let text = w.get_ref().trim();
    if text == "dns" {
        return Some(AnycastCondition::Dns);
    }
    let parse_ip = |cx: &mut Ctx, s: &str| match s.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            cx.err(w.span(), key, format!("`{s}` is not an IP address"));
            None
        }
    };
    match text.split_once(':') {
        Some(("vip", ip)) => {
            let ip = parse_ip(cx, ip)?;
            let directed = lvs.is_some_and(|l| {
                l.services
                    .iter()
                    .any(|s| matches!(s.key, VirtualKey::Addr { addr, .. } if addr.ip() == ip))
            });
            if !directed {
                cx.err(
                    w.span(),
                    key,
                    format!("no [[lvs.service]] has a VIP on {ip}"),
                );
                return None;
            }
            Some(AnycastCondition::Vip(ip))
        }
        Some(("site", name)) => {
            if !sites.contains_key(name) {
                cx.err(w.span(), key, format!("no [site.{name}] is defined"));
                return None;
            }
            Some(AnycastCondition::Site(name.to_string()))
        }
        Some(("addr", ip)) => {
            let ip = parse_ip(cx, ip)?;
            let known = sites
                .values()
                .any(|s| s.links.values().any(|l| l.contains(&ip)));
            if !known {
                cx.err(
                    w.span(),
                    key,
                    format!("{ip} is not an address of any site's links"),
                );
                return None;
            }
            Some(AnycastCondition::Addr(ip))
        }
        _ => {
            cx.err(
                w.span(),
                key,
                format!("`{text}` is not one of \"dns\", \"vip:ADDR\", \"site:NAME\", \"addr:IP\""),
            );
            None
        }
    }
}

fn demote(cx: &mut Ctx, d: &Spanned<DemoteSpec>, key: &str, bird: bool) -> Option<Demote> {
    let spec = d.get_ref();
    let med = match &spec.med {
        None => Some(None),
        Some(m) => cx
            .int::<u32>(m, &format!("{key}.med"), 0, i64::from(u32::MAX))
            .map(Some),
    };
    let mut as_path_prepend = Vec::new();
    for (i, a) in spec.as_path_prepend.iter().enumerate() {
        if let Some(n) = cx.int::<u32>(
            a,
            &format!("{key}.as_path_prepend[{i}]"),
            1,
            i64::from(u32::MAX),
        ) {
            as_path_prepend.push(n);
        }
    }
    let mut community = Vec::new();
    for (i, c) in spec.community.iter().enumerate() {
        let ok = c
            .get_ref()
            .split_once(':')
            .is_some_and(|(a, b)| a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok());
        if ok {
            community.push(c.get_ref().clone());
        } else {
            cx.err(
                c.span(),
                format!("{key}.community[{i}]"),
                format!(
                    "`{}` is not a community ASN:VALUE (each 0..=65535)",
                    c.get_ref()
                ),
            );
        }
    }
    let bird_protocol = protocol_name(
        cx,
        spec.bird_protocol.as_ref(),
        &format!("{key}.bird_protocol"),
    )?;
    if bird && bird_protocol.is_none() {
        cx.err(
            d.span(),
            key,
            "with backend = \"bird\", demote needs bird_protocol: the operator's second static protocol whose route carries the worse attributes",
        );
        return None;
    }
    if !bird
        && med.as_ref().is_some_and(Option::is_none)
        && as_path_prepend.is_empty()
        && community.is_empty()
    {
        cx.err(d.span(), key, "give med, as_path_prepend or community");
        return None;
    }
    Some(Demote {
        med: med?,
        as_path_prepend,
        community,
        bird_protocol,
    })
}

#[cfg(test)]
mod tests;
