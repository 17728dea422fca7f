//! Validation of the `[lvs]` table: virtual services and their real servers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

mod sync;

use super::{Ctx, check::check};
use crate::config::keywords::{LvsFlag, Scheduler};
use crate::config::spec::{LvsServiceSpec, LvsSpec, RealSpec};
use crate::config::types::{
    Forward, Lvs, LvsService, OnFailure, Protocol, Real, Site, SpillAt, VirtualKey,
};

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
    let sync = l.sync.as_ref().and_then(|s| sync::sync(cx, s));
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
        sync,
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
        (Some(v), None) => {
            if let Some(f) = &s.family {
                cx.err(
                    f.span(),
                    format!("{key}.family"),
                    "`family` applies only to fwmark services (a vip's family is its address's)",
                );
            }
            VirtualKey::Addr {
                protocol,
                addr: cx.sockaddr(v, &format!("{key}.vip"))?,
            }
        }
        (None, Some(m)) => {
            if let Some(p) = &s.protocol {
                cx.err(
                    p.span(),
                    format!("{key}.protocol"),
                    "`protocol` applies only to vip services (a fwmark service takes whatever the firewall marks)",
                );
            }
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
        .map_or(Some(Scheduler::default()), |sc| {
            cx.parsed::<Scheduler>(sc, &format!("{key}.scheduler"))
        });
    let fwd = s
        .forward
        .as_ref()
        .and_then(|f| forward(cx, f, &format!("{key}.forward")))
        .unwrap_or(Forward::Dr);
    let persistence = s
        .persistence
        .as_ref()
        .and_then(|p| cx.duration(p, &format!("{key}.persistence")));
    let v6 = match vkey {
        VirtualKey::Addr { addr, .. } => addr.is_ipv6(),
        VirtualKey::Fwmark { ipv6, .. } => ipv6,
    };
    let netmask = s.netmask.as_ref().and_then(|m| {
        let nk = format!("{key}.netmask");
        if s.persistence.is_none() {
            cx.err(
                m.span(),
                &nk,
                "`netmask` applies only to persistent services (set `persistence`)",
            );
        }
        netmask(cx, m, &nk, v6)
    });
    let mut flags = Vec::new();
    for (i, f) in s.flags.iter().enumerate() {
        let fk = format!("{key}.flags[{i}]");
        let Some(flag) = cx.parsed::<LvsFlag>(f, &fk) else {
            continue;
        };
        match (flag.scheduler(), scheduler) {
            // An unknown scheduler has its own error already.
            (Some(wants), Some(sched)) if wants != sched => cx.err(
                f.span(),
                &fk,
                format!("`{flag}` applies only to scheduler = \"{wants}\" (this service uses \"{sched}\")"),
            ),
            _ if flags.contains(&flag) => cx.err(f.span(), &fk, format!("`{flag}` is listed twice")),
            _ => flags.push(flag),
        }
    }
    let on_failure = match s
        .on_failure
        .as_ref()
        .map(|o| (o.span(), o.get_ref().as_str()))
    {
        None | Some((_, "weight0")) => OnFailure::Weight0,
        Some((_, "remove")) => OnFailure::Remove,
        Some((_, "drain")) => OnFailure::Drain,
        Some((span, other)) => {
            cx.err(
                span,
                format!("{key}.on_failure"),
                format!("`{other}` is not one of weight0, remove, drain"),
            );
            OnFailure::Weight0
        }
    };
    let drain_deadline = s
        .drain_deadline
        .as_ref()
        .and_then(|d| cx.duration(d, &format!("{key}.drain_deadline")));
    let capacity = s
        .capacity
        .as_ref()
        .and_then(|c| cx.int(c, &format!("{key}.capacity"), 1, i64::MAX));
    let spill = spill_at(cx, s, capacity, key);
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
        .and_then(|c| check(cx, c, &format!("{key}.check")));
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
        scheduler: scheduler.unwrap_or_default(),
        forward: fwd,
        persistence,
        netmask,
        flags,
        on_failure,
        drain_deadline,
        capacity,
        spill,
        sorry_server,
        quorum,
        hysteresis,
        check: chk,
        reals,
    })
}

/// IPv4: a mask such as `255.255.255.0`; IPv6: a prefix length, `64` or `/64` (the kernel
/// takes each family's netmask in that form).
fn netmask(cx: &mut Ctx, m: &toml::Spanned<String>, key: &str, v6: bool) -> Option<u32> {
    let t = m.get_ref().trim();
    if v6 {
        if let Ok(len) = t.trim_start_matches('/').parse::<u32>()
            && len <= 128
        {
            return Some(len);
        }
        cx.err(
            m.span(),
            key,
            format!("`{t}` is not an IPv6 prefix length (0..=128, e.g. 64)"),
        );
    } else {
        if let Ok(IpAddr::V4(v4)) = t.parse::<IpAddr>() {
            let bits = u32::from(v4);
            if bits.leading_ones() + bits.trailing_zeros() == 32 {
                return Some(bits);
            }
        }
        cx.err(
            m.span(),
            key,
            format!("`{t}` is not an IPv4 netmask (e.g. 255.255.255.0)"),
        );
    }
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
        drain: r.drain.as_ref().is_some_and(|d| *d.get_ref()),
    })
}

/// `spill_at` (per cent of `capacity`, which it needs) and `spill_resume` (below it; default
/// 10 points lower).
fn spill_at(cx: &mut Ctx, s: &LvsServiceSpec, capacity: Option<u64>, key: &str) -> Option<SpillAt> {
    let Some(at_spec) = &s.spill_at else {
        if let Some(r) = &s.spill_resume {
            cx.err(
                r.span(),
                format!("{key}.spill_resume"),
                "`spill_resume` needs `spill_at`",
            );
        }
        return None;
    };
    let at: u32 = cx.int(at_spec, &format!("{key}.spill_at"), 1, 1000)?;
    if s.capacity.is_none() {
        cx.err(
            at_spec.span(),
            format!("{key}.spill_at"),
            "`spill_at` is a share of `capacity`: set `capacity` (active connections) too",
        );
        return None;
    }
    capacity?;
    let resume = match &s.spill_resume {
        None => at.saturating_sub(10),
        Some(r) => {
            let v: u32 = cx.int(r, &format!("{key}.spill_resume"), 0, 1000)?;
            if v >= at {
                cx.err(
                    r.span(),
                    format!("{key}.spill_resume"),
                    format!("must be below `spill_at` ({at}), or the VIP would never resume"),
                );
                return None;
            }
            v
        }
    };
    Some(SpillAt { at, resume })
}
