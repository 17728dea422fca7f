//! Building the query path's [`Snapshot`] from a configuration, the previous snapshot and the
//! health authority's evidence, and registering the targets the authority resolves.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::Config;
use crate::dns::{self, LoadError, ZoneSet};
use crate::health::{self, DnsTarget, RealTarget, Registry};
use crate::lvs::VipState;
use crate::metrics::METRICS;
use crate::policy::{Compiled, PolicyError};
use crate::state::Snapshot;

/// The targets DNS policy and the director register with the authority for `cfg`.
pub fn registry(cfg: &Config, policy: Option<&Compiled>) -> Registry {
    Registry {
        dns: policy.map(dns_targets).unwrap_or_default(),
        lvs: cfg
            .lvs
            .as_ref()
            .map(RealTarget::from_config)
            .unwrap_or_default(),
    }
}

/// The policy's targets, in its target order (the DNS table's index).
fn dns_targets(policy: &Compiled) -> Vec<DnsTarget> {
    policy
        .targets()
        .iter()
        .map(|t| DnsTarget {
            site: t.site.to_string(),
            link: t.link.to_string(),
            addr: t.addr,
        })
        .collect()
}

/// Load zones and compile the policy for `cfg`. Zones that fail keep their contents from
/// `prev` when it had them; a policy that cannot be compiled (an unreadable database, a bad
/// CIDR file) fails the whole build. `evidence` is the prober's latest view and the local
/// director's VIP states; without it (`check`), the configuration's overrides alone.
pub fn build_snapshot(
    cfg: &Config,
    prev: Option<&Snapshot>,
    evidence: Option<(&health::HealthView, &VipState)>,
) -> Result<(Snapshot, Vec<LoadError>), PolicyError> {
    let policy = if cfg.services.is_empty() {
        None
    } else {
        Some(Arc::new(Compiled::new(cfg)?))
    };
    let (mut zones, errors) =
        dns::zone::load_zones_compact(&cfg.server.zone_files, cfg.server.zone_rules);
    if let Some(prev) = prev {
        carry_over(&mut zones, &prev.zones, &errors);
    }
    let outside = dns::service::names_outside_authority(cfg, &zones);
    if !outside.is_empty() {
        return Err(PolicyError::NotAuthoritative(outside));
    }
    METRICS
        .zones_loaded
        .store(zones.len() as u64, Ordering::Relaxed);
    METRICS
        .zones_failed
        .store(errors.len() as u64, Ordering::Relaxed);
    let mut snapshot = Snapshot::new(zones, cfg.server.max_udp_payload);
    snapshot.query_log = cfg.server.query_log;
    snapshot.tcp = cfg.server.tcp;
    snapshot.rrl = cfg.server.rrl.clone();
    snapshot.cookie_secret = Some(
        cfg.server
            .cookie_secret
            .clone()
            .unwrap_or_else(|| process_cookie_secret().clone()),
    );
    let id = &cfg.server.identity;
    snapshot.identity = dns::identity::Identity::new(&id.name, id.nsid, id.chaos);
    let registry = Arc::new(registry(cfg, policy.as_deref()));
    let offline;
    let (probes, vips) = match evidence {
        Some(e) => e,
        None => {
            offline = (
                health::HealthView::with_overrides(health::Overrides::from_config(&cfg.overrides)),
                VipState::default(),
            );
            (&offline.0, &offline.1)
        }
    };
    let published = health::Published::compute(0, registry, probes, vips, None);
    snapshot.registry = published.registry.clone();
    if let Some(policy) = policy {
        snapshot = snapshot.with_policy(policy, published.dns.clone());
    }
    Ok((snapshot, errors))
}

/// The DNS table for `policy` from the configuration's overrides, the state file's
/// overrides and probe states, without a running prober (offline `explain`).
pub fn offline_table(
    cfg: &Config,
    policy: &Compiled,
    overrides: health::Overrides,
) -> health::Table {
    let registry = Arc::new(registry(cfg, Some(policy)));
    let probes = health::HealthView::with_overrides(overrides);
    (*health::Published::compute(0, registry, &probes, &VipState::default(), None).dns).clone()
}

/// A snapshot equal to `cur` with the authority's new DNS table; None when `published` was
/// computed for another registration (a reload came in between) or nothing changed.
pub fn with_health(cur: &Snapshot, published: &health::Published) -> Option<Snapshot> {
    if !Arc::ptr_eq(&cur.registry, &published.registry) {
        return None;
    }
    cur.policy.as_ref()?;
    if *cur.health == *published.dns {
        return None;
    }
    let mut next = cur.clone();
    next.health = published.dns.clone();
    Some(next)
}

fn carry_over(zones: &mut ZoneSet, prev: &ZoneSet, errors: &[LoadError]) {
    for e in errors {
        let file = match e {
            LoadError::File(f) => &f.file,
            LoadError::Zone { file, .. } => file,
        };
        let Ok(origin) = dns::zone::origin_from_path(file) else {
            continue;
        };
        let lower = dns::name::lowered(&origin.0);
        if let Some(old) = prev.find(&lower).filter(|z| z.origin == lower) {
            tracing::warn!(zone = %dns::name::to_text(&lower), "keeping the previous contents of the zone");
            zones.insert(old.clone());
        }
    }
}

/// The cookie secret of a node without `cookie_secret_file`: random, made once per process,
/// so reloads keep it (its cookies are recognised by this process only).
fn process_cookie_secret() -> &'static crate::dns::cookie::CookieSecret {
    static SECRET: std::sync::OnceLock<crate::dns::cookie::CookieSecret> =
        std::sync::OnceLock::new();
    SECRET.get_or_init(crate::dns::cookie::CookieSecret::generate)
}
