//! `[geo]` and `[isp.*]`: the database paths, and each ISP's ASNs and CIDRs, the lists
//! in `cidr_files` read here, once (the geo classifier uses what this read).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use toml::Spanned;

use super::super::spec;
use super::super::types::{Geo, Isp};
use super::Ctx;

/// Parse `a.b.c.d/len` or `v6/len`; a bare address is a host prefix. Host bits must be zero.
pub(crate) fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    let net = if s.contains('/') {
        s.parse::<IpNet>()
            .map_err(|_| format!("`{s}` is not a CIDR prefix"))?
    } else {
        let ip: IpAddr = s
            .parse()
            .map_err(|_| format!("`{s}` is not a CIDR prefix or address"))?;
        IpNet::from(ip)
    };
    if net.trunc() != net {
        return Err(format!(
            "`{s}` has bits set beyond the prefix length (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

pub(super) fn geo(cx: &mut Ctx, g: Option<&spec::GeoSpec>) -> Geo {
    let Some(g) = g else { return Geo::default() };
    Geo {
        city: g
            .city
            .as_ref()
            .and_then(|p| cx.existing_file(p, "geo.city")),
        asn: g.asn.as_ref().and_then(|p| cx.existing_file(p, "geo.asn")),
    }
}

pub(super) fn isps(
    cx: &mut Ctx,
    spec: &BTreeMap<Spanned<String>, spec::IspSpec>,
) -> BTreeMap<String, Isp> {
    let mut out = BTreeMap::new();
    for (name, s) in spec {
        let key = format!("isp.{}", name.get_ref());
        if name.get_ref() == "default" {
            cx.err(
                name.span(),
                &key,
                "`default` is reserved for a site's fallback link",
            );
        }
        let asns = s
            .asn
            .iter()
            .filter_map(|a| cx.int(a, &format!("{key}.asn"), 0, u32::MAX as i64))
            .collect();
        let mut cidrs: Vec<IpNet> = s
            .cidrs
            .iter()
            .enumerate()
            .filter_map(|(i, c)| cx.cidr(c, &format!("{key}.cidrs[{i}]")))
            .collect();
        let mut cidr_files = Vec::new();
        for (i, f) in s.cidr_files.iter().enumerate() {
            let k = format!("{key}.cidr_files[{i}]");
            let Some(path) = cx.existing_file(f, &k) else {
                continue;
            };
            match read_cidr_file(&path) {
                Ok(list) => cidrs.extend(list),
                Err(msg) => cx.err(f.span(), &k, msg),
            }
            cidr_files.push(path);
        }
        if s.asn.is_empty() && s.cidrs.is_empty() && s.cidr_files.is_empty() {
            cx.err(
                name.span(),
                &key,
                "an ISP needs `asn`, `cidrs` or `cidr_files`: with none, no client is ever in it",
            );
        }
        out.insert(
            name.get_ref().clone(),
            Isp {
                asns,
                cidrs,
                cidr_files,
            },
        );
    }
    out
}

/// One CIDR per line, `#` starts a comment. Errors name the list file and its line.
pub fn read_cidr_file(path: &Path) -> Result<Vec<IpNet>, String> {
    let text =
        crate::files::read_text(path, crate::files::limit::CIDR_LIST).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        // The message leaves the line out: a file named here by mistake (a key, /proc/...)
        // must not end up in logs.
        out.push(parse_cidr(l).map_err(|_| {
            format!(
                "{}:{}: expected a CIDR prefix or an address, with no bits set past the prefix",
                path.display(),
                n + 1
            )
        })?);
    }
    Ok(out)
}
