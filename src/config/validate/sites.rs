//! `[site.*]`: location, links (each named after an ISP or `default`) and their addresses,
//! the links' order in the file, capacity.

use std::collections::BTreeMap;
use std::net::IpAddr;

use toml::Spanned;

use super::super::spec;
use super::super::types::{Isp, Location, Site};
use super::Ctx;

pub(super) fn sites(
    cx: &mut Ctx,
    spec: &BTreeMap<Spanned<String>, spec::SiteSpec>,
    isps: &BTreeMap<String, Isp>,
) -> BTreeMap<String, Site> {
    let mut out = BTreeMap::new();
    for (name, s) in spec {
        let key = format!("site.{}", name.get_ref());
        let location = s.location.as_ref().and_then(|l| {
            let v = l.get_ref();
            if !(-90.0..=90.0).contains(&v.lat) || !(-180.0..=180.0).contains(&v.lon) {
                cx.err(
                    l.span(),
                    format!("{key}.location"),
                    "lat must be in -90..=90 and lon in -180..=180",
                );
                return None;
            }
            Some(Location {
                lat: v.lat,
                lon: v.lon,
            })
        });
        let mut links = BTreeMap::new();
        for (link, addrs) in &s.links {
            let lk = format!("{key}.links.{}", link.get_ref());
            if link.get_ref() != "default" && !isps.contains_key(link.get_ref()) {
                cx.err(
                    link.span(),
                    &lk,
                    format!(
                        "no [isp.{}] is defined (link names are ISP names or `default`)",
                        link.get_ref()
                    ),
                );
            }
            if addrs.is_empty() {
                cx.err(link.span(), &lk, "a link needs at least one address");
            }
            let list: Vec<IpAddr> = addrs
                .iter()
                .enumerate()
                .filter_map(|(i, a)| link_addr(cx, a, &format!("{lk}[{i}]")))
                .collect();
            links.insert(link.get_ref().clone(), list);
        }
        if s.links.is_empty() {
            cx.err(
                name.span(),
                &key,
                "a site needs at least one link (e.g. links = { default = [\"192.0.2.1\"] })",
            );
        }
        let mut order: Vec<&Spanned<String>> = s.links.keys().collect();
        order.sort_by_key(|k| k.span().start);
        let link_order = order.into_iter().map(|k| k.get_ref().clone()).collect();
        let capacity = s
            .capacity
            .as_ref()
            .map_or(Some(1), |c| {
                cx.int(c, &format!("{key}.capacity"), 1, 1_000_000)
            })
            .unwrap_or(1);
        out.insert(
            name.get_ref().clone(),
            Site {
                location,
                links,
                link_order,
                capacity,
            },
        );
    }
    out
}

/// A link address clients can be sent to: not unspecified, multicast or broadcast.
fn link_addr(cx: &mut Ctx, a: &Spanned<String>, key: &str) -> Option<IpAddr> {
    let ip = cx.ip(a, key)?;
    let why = match ip {
        _ if ip.is_unspecified() => "the unspecified address",
        _ if ip.is_multicast() => "a multicast address",
        IpAddr::V4(v4) if v4.is_broadcast() => "the broadcast address",
        _ => return Some(ip),
    };
    cx.err(
        a.span(),
        key,
        format!("{ip} is {why}; a link address must be one clients can connect to"),
    );
    None
}
