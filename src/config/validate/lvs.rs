//! Validation of the `[lvs]` table: virtual services and their real servers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use super::{Ctx, check::check};
use crate::config::keywords::{LvsFlag, Scheduler};
use crate::config::spec::{LvsServiceSpec, LvsSpec, RealSpec};
use crate::config::types::{Forward, Lvs, LvsService, OnFailure, Protocol, Real, Site, VirtualKey};

pub(super) fn lvs(cx: &mut Ctx, l: &LvsSpec, sites: &BTreeMap<String, Site>) -> Option<Lvs> {
    let site = l.site.as_ref().map(|s| {
        if !sites.contains_key(s.get_ref()) {
            cx.err(
                s.span(),
                "lvs.site",
                format!("no [site.{}] is defined", s.get_ref()),
            );
        }
        s.get_ref().clone()
    });
    let resync = l
        .resync
        .as_ref()
        .and_then(|r| cx.duration(r, "lvs.resync"))
        .unwrap_or(Duration::from_secs(10));
    let mut keys = BTreeSet::new();
    let mut services = Vec::new();
    for (i, s) in l.service.iter().enumerate() {
        let key = format!("lvs.service[{i}]");
        if let Some(svc) = service(cx, s, &key) {
            if !keys.insert(svc.key) {
                cx.err(
                    s.vip.as_ref().map_or(0..0, |v| v.span()),
                    &key,
                    "this virtual service is defined twice",
                );
            }
            services.push(svc);
        }
    }
    Some(Lvs {
        site,
        resync,
        services,
    })
}

fn forward(cx: &mut Ctx, f: &toml::Spanned<String>, key: &str) -> Option<Forward> {
    match f.get_ref().as_str() {
        "dr" | "route" | "gate" => Some(Forward::Dr),
        "nat" | "masq" => Some(Forward::Nat),
        "tun" | "ipip" => Some(Forward::Tun),
        other => {
            cx.err(
                f.span(),
                key,
                format!("`{other}` is not one of dr, nat, tun"),
            );
            None
        }
    }
}

fn service(cx: &mut Ctx, s: &LvsServiceSpec, key: &str) -> Option<LvsService> {
    let protocol = match s
        .protocol
        .as_ref()
        .map(|p| (p.span(), p.get_ref().as_str()))
    {
        None | Some((_, "tcp")) => Protocol::Tcp,
        Some((_, "udp")) => Protocol::Udp,
        Some((_, "sctp")) => Protocol::Sctp,
        Some((span, other)) => {
            cx.err(
                span,
                format!("{key}.protocol"),
                format!("`{other}` is not one of tcp, udp, sctp"),
            );
            Protocol::Tcp
        }
    };
    let vkey = match (&s.vip, &s.fwmark) {
        (Some(v), None) => VirtualKey::Addr {
            protocol,
            addr: cx.sockaddr(v, &format!("{key}.vip"))?,
        },
        (None, Some(m)) => {
            let fwmark = cx.int(m, &format!("{key}.fwmark"), 1, u32::MAX as i64)?;
            let ipv6 = match s.family.as_ref().map(|f| (f.span(), f.get_ref().as_str())) {
                None | Some((_, "inet")) | Some((_, "ipv4")) => false,
                Some((_, "inet6")) | Some((_, "ipv6")) => true,
                Some((span, other)) => {
                    cx.err(
                        span,
                        format!("{key}.family"),
                        format!("`{other}` is not one of ipv4, ipv6"),
                    );
                    false
                }
            };
            VirtualKey::Fwmark { fwmark, ipv6 }
        }
        (Some(v), Some(_)) => {
            cx.err(v.span(), key, "give either `vip` or `fwmark`, not both");
            return None;
        }
        (None, None) => {
            cx.err(
                0..0,
                key,
                "a virtual service needs `vip = \"addr:port\"` or `fwmark = N`",
            );
            return None;
        }
    };
    let scheduler = s
        .scheduler
        .as_ref()
        .and_then(|sc| cx.parsed::<Scheduler>(sc, &format!("{key}.scheduler")))
        .unwrap_or_default();
    let fwd = s
        .forward
        .as_ref()
        .and_then(|f| forward(cx, f, &format!("{key}.forward")))
        .unwrap_or(Forward::Dr);
    let persistence = s
        .persistence
        .as_ref()
        .and_then(|p| cx.duration(p, &format!("{key}.persistence")));
    let netmask = s
        .netmask
        .as_ref()
        .and_then(|m| netmask(cx, m, &format!("{key}.netmask")));
    let flags: Vec<LvsFlag> = s
        .flags
        .iter()
        .enumerate()
        .filter_map(|(i, f)| cx.parsed::<LvsFlag>(f, &format!("{key}.flags[{i}]")))
        .collect();
    let on_failure = match s
        .on_failure
        .as_ref()
        .map(|o| (o.span(), o.get_ref().as_str()))
    {
        None | Some((_, "weight0")) => OnFailure::Weight0,
        Some((_, "remove")) => OnFailure::Remove,
        Some((span, other)) => {
            cx.err(
                span,
                format!("{key}.on_failure"),
                format!("`{other}` is not one of weight0, remove"),
            );
            OnFailure::Weight0
        }
    };
    let sorry_server = s
        .sorry_server
        .as_ref()
        .and_then(|a| cx.sockaddr(a, &format!("{key}.sorry_server")));
    let quorum = s
        .quorum
        .as_ref()
        .map_or(Some(1), |q| {
            cx.int(q, &format!("{key}.quorum"), 0, u32::MAX as i64)
        })
        .unwrap_or(1);
    let hysteresis = s
        .hysteresis
        .as_ref()
        .map_or(Some(0), |q| {
            cx.int(q, &format!("{key}.hysteresis"), 0, u32::MAX as i64)
        })
        .unwrap_or(0);
    // A real server starts up unless the check says otherwise (as keepalived does): the
    // kernel already sends it traffic, and one slow first probe must not pull it out.
    let chk = s
        .check
        .as_ref()
        .and_then(|c| check(cx, c, &format!("{key}.check")))
        .map(|mut c| {
            if s.check
                .as_ref()
                .is_some_and(|spec| spec.get_ref().start.is_none())
            {
                c.start = crate::config::types::StartState::Up;
            }
            c
        });
    let v6 = match vkey {
        VirtualKey::Addr { addr, .. } => addr.is_ipv6(),
        VirtualKey::Fwmark { ipv6, .. } => ipv6,
    };
    let mut seen = BTreeSet::new();
    let mut reals = Vec::new();
    for (i, r) in s.real.iter().enumerate() {
        let rk = format!("{key}.real[{i}]");
        if let Some(real) = real(cx, r, &rk) {
            if real.addr.is_ipv6() != v6 {
                cx.err(
                    r.addr.span(),
                    format!("{rk}.addr"),
                    "real server and virtual service must be the same address family",
                );
            }
            if !seen.insert(real.addr) {
                cx.err(
                    r.addr.span(),
                    format!("{rk}.addr"),
                    "this real server is listed twice",
                );
            }
            reals.push(real);
        }
    }
    Some(LvsService {
        key: vkey,
        scheduler,
        forward: fwd,
        persistence,
        netmask,
        flags,
        on_failure,
        sorry_server,
        quorum,
        hysteresis,
        check: chk,
        reals,
    })
}

/// `255.255.255.0` (IPv4 mask) or `/64`/`64` (IPv6 prefix length).
fn netmask(cx: &mut Ctx, m: &toml::Spanned<String>, key: &str) -> Option<u32> {
    let t = m.get_ref().trim();
    if let Ok(IpAddr::V4(v4)) = t.parse::<IpAddr>() {
        let bits = u32::from(v4);
        if bits.leading_ones() + bits.trailing_zeros() == 32 {
            return Some(bits);
        }
    } else if let Ok(len) = t.trim_start_matches('/').parse::<u32>()
        && len <= 128
    {
        return Some(len);
    }
    cx.err(
        m.span(),
        key,
        format!("`{t}` is not a netmask (255.255.255.0 or an IPv6 prefix length)"),
    );
    None
}

fn real(cx: &mut Ctx, r: &RealSpec, key: &str) -> Option<Real> {
    let addr = cx.sockaddr(&r.addr, &format!("{key}.addr"))?;
    let weight = r
        .weight
        .as_ref()
        .map_or(Some(1), |w| cx.int(w, &format!("{key}.weight"), 0, 65535))
        .unwrap_or(1);
    let forward = r
        .forward
        .as_ref()
        .and_then(|f| forward(cx, f, &format!("{key}.forward")));
    let u_threshold = r
        .u_threshold
        .as_ref()
        .map_or(Some(0), |w| {
            cx.int(w, &format!("{key}.u_threshold"), 0, u32::MAX as i64)
        })
        .unwrap_or(0);
    let l_threshold = r
        .l_threshold
        .as_ref()
        .map_or(Some(0), |w| {
            cx.int(w, &format!("{key}.l_threshold"), 0, u32::MAX as i64)
        })
        .unwrap_or(0);
    Some(Real {
        addr,
        weight,
        forward,
        u_threshold,
        l_threshold,
    })
}
