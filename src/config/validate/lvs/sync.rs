//! Validation of `[lvs] sync = { role, interface, syncid, ... }`: the kernel's connection
//! synchronisation daemon.

use toml::Spanned;

use super::super::Ctx;
use crate::config::spec::LvsSyncSpec;
use crate::config::types::{LvsSync, SyncRole};

/// The kernel keeps interface names to `IFNAMSIZ - 1` bytes.
const IFNAME_MAX: usize = 15;

pub(in crate::config::validate) fn sync(cx: &mut Ctx, s: &Spanned<LvsSyncSpec>) -> Option<LvsSync> {
    let s = s.get_ref();
    let role = match s.role.get_ref().as_str() {
        "master" => Some(SyncRole::Master),
        "backup" => Some(SyncRole::Backup),
        "both" => Some(SyncRole::Both),
        other => {
            cx.err(
                s.role.span(),
                "lvs.sync.role",
                format!("`{other}` is not one of master, backup, both"),
            );
            None
        }
    };
    let name = s.interface.get_ref();
    let interface_ok = !name.is_empty()
        && name.len() <= IFNAME_MAX
        && !name.contains(['/', ' ', '\0'])
        && name != "."
        && name != "..";
    if !interface_ok {
        cx.err(
            s.interface.span(),
            "lvs.sync.interface",
            format!("`{name}` is not an interface name (1 to {IFNAME_MAX} bytes, no `/` or space)"),
        );
    }
    let syncid = s
        .syncid
        .as_ref()
        .map_or(Some(0), |v| cx.int(v, "lvs.sync.syncid", 0, 255))?;
    let group = s.group.as_ref().and_then(|g| {
        let ip = cx.ip(g, "lvs.sync.group")?;
        if !ip.is_multicast() {
            cx.err(
                g.span(),
                "lvs.sync.group",
                format!("`{ip}` is not a multicast address"),
            );
            return None;
        }
        Some(ip)
    });
    let port = s
        .port
        .as_ref()
        .and_then(|p| cx.int(p, "lvs.sync.port", 1, 65535));
    let ttl = s
        .ttl
        .as_ref()
        .and_then(|t| cx.int(t, "lvs.sync.ttl", 1, 255));
    let maxlen = s
        .maxlen
        .as_ref()
        .and_then(|m| cx.int(m, "lvs.sync.maxlen", 576, 65535));
    Some(LvsSync {
        role: role?,
        interface: name.clone(),
        syncid,
        group,
        port,
        ttl,
        maxlen,
    })
    .filter(|_| interface_ok)
}
