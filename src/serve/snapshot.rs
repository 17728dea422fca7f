//! Building the query path's [`Snapshot`] from a configuration, the previous snapshot and the
//! prober's health view.
//!
//! [`policy_table`] is a TEMPORARY adapter: until the health authority publishes the policy's
//! table itself, it resolves each policy target here from the prober's view, the overrides
//! and the local director's VIP states with the authority's own [`health::resolve`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::Config;
use crate::config::{OverrideState, OverrideTarget};
use crate::dns::{self, LoadError, ZoneSet};
use crate::health;
use crate::lvs::VipState;
use crate::metrics::METRICS;
use crate::policy::{Compiled, PolicyError, Target};
use crate::state::Snapshot;

/// Load zones and compile the policy for `cfg`. Zones that fail keep their contents from
/// `prev` when it had them; a policy that cannot be compiled (an unreadable database, a bad
/// CIDR file) fails the whole build. `probes` is the prober's latest view, if one runs.
pub fn build_snapshot(
    cfg: &Config,
    prev: Option<&Snapshot>,
    probes: Option<(&health::HealthView, &VipState)>,
) -> Result<(Snapshot, Vec<LoadError>), PolicyError> {
    let policy = if cfg.services.is_empty() {
        None
    } else {
        Some(Arc::new(Compiled::new(cfg)?))
    };
    let (mut zones, errors) = dns::load_zones(&cfg.server.zone_files);
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
    if let Some(policy) = policy {
        let table = match probes {
            Some((p, vips)) => policy_view(&policy, p, vips),
            None => policy_table(
                &policy,
                None,
                &health::Overrides::from_config(&cfg.overrides),
                &VipState::default(),
            ),
        };
        snapshot = snapshot.with_policy(policy, Arc::new(table));
    }
    Ok((snapshot, errors))
}

/// The policy's health table from the prober's view, its overrides and the VIP states.
pub fn policy_view(
    policy: &Compiled,
    probes: &health::HealthView,
    vips: &VipState,
) -> health::Table {
    policy_table(policy, Some(probes), probes.overrides(), vips)
}

/// TEMPORARY adapter (see the module doc): one verdict per target of `policy`, in
/// [`crate::policy::TargetId`] order. Evidence per target: the most specific override
/// (address, then that link of that site, then the site), the director's quorum for a VIP
/// on the address, and every check of the address with its start state. Without `probes`
/// (`check`, offline `explain`) nothing counts as checked.
pub fn policy_table(
    policy: &Compiled,
    probes: Option<&health::HealthView>,
    overrides: &health::Overrides,
    vips: &VipState,
) -> health::Table {
    let mut by_ip: HashMap<IpAddr, health::ProbeEvidence> = HashMap::new();
    for (key, status) in probes.into_iter().flat_map(|p| p.iter()) {
        let state = match status.state {
            health::State::Unknown => health::Status::Unknown,
            health::State::Up => health::Status::Up,
            health::State::Down => health::Status::Down,
        };
        by_ip
            .entry(key.addr.ip())
            .or_default()
            .add(state, key.check.start);
    }
    let verdicts = policy
        .targets()
        .iter()
        .map(|t| {
            health::resolve(&health::Evidence {
                forced: forced(overrides, t),
                director: vips.ip_up(t.addr),
                probe: by_ip.get(&t.addr).copied().unwrap_or_default(),
            })
        })
        .collect();
    health::Table::new(verdicts)
}

fn forced(o: &health::Overrides, t: &Target) -> Option<(health::Level, OverrideState)> {
    let at = |level, target| o.get(&target).map(|s| (level, s));
    at(health::Level::Addr, OverrideTarget::Addr(t.addr))
        .or_else(|| {
            at(
                health::Level::Link,
                OverrideTarget::Link {
                    site: t.site.clone(),
                    link: t.link.clone(),
                },
            )
        })
        .or_else(|| at(health::Level::Site, OverrideTarget::Site(t.site.clone())))
}

/// A snapshot equal to `cur` but with health re-projected; None when nothing changed.
pub fn with_health(
    cur: &Snapshot,
    probes: &health::HealthView,
    vips: &VipState,
) -> Option<Snapshot> {
    let policy = cur.policy.as_ref()?;
    let view = policy_view(policy, probes, vips);
    if *cur.health == view {
        return None;
    }
    let mut next = cur.clone();
    next.health = Arc::new(view);
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

/// The real-server health the IPVS reconciler needs, from the prober's view. A real server
/// not yet probed keeps counting as up, so a restarted director adopts the kernel's table
/// without touching it; its first failed probes then take it out.
pub fn lvs_view(lvs: &crate::config::Lvs, probes: &health::HealthView) -> crate::lvs::HealthView {
    let mut v = crate::lvs::HealthView::new();
    for s in &lvs.services {
        let Some(check) = &s.check else { continue };
        for r in &s.reals {
            let key = health::ProbeKey::for_real(r.addr, check);
            let up = !matches!(probes.state(&key), Some(health::State::Down));
            v.set(s.key, r.addr, up);
        }
    }
    v
}
