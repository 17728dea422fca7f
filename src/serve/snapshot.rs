//! Building the query path's [`Snapshot`] from a configuration, the previous snapshot and the
//! prober's health view.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::Config;
use crate::dns::{self, LoadError, ZoneSet};
use crate::health;
use crate::lvs::VipState;
use crate::metrics::METRICS;
use crate::policy::{self, Compiled, PolicyError};
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
    METRICS
        .zones_loaded
        .store(zones.len() as u64, Ordering::Relaxed);
    METRICS
        .zones_failed
        .store(errors.len() as u64, Ordering::Relaxed);
    let mut snapshot = Snapshot::new(zones, cfg.server.max_udp_payload);
    snapshot.query_log = cfg.server.query_log;
    if let Some(policy) = policy {
        let view = match probes {
            Some((p, vips)) => policy_view(&policy, p, vips),
            None => {
                let (v, unknown) = policy::HealthView::from_overrides(&policy, &cfg.overrides);
                for o in unknown {
                    tracing::warn!(target = ?o.target, "override names nothing the policy uses");
                }
                v
            }
        };
        snapshot = snapshot.with_policy(policy, Arc::new(view));
    }
    Ok((snapshot, errors))
}

/// Project the prober's per-(address, check) states, the local director's VIP states and
/// the overrides onto the policy's per-site/link/address view. An address nobody probes (its
/// service has no check) is up; a VIP this node directs is down when its quorum is lost.
pub fn policy_view(
    policy: &Compiled,
    probes: &health::HealthView,
    vips: &VipState,
) -> policy::HealthView {
    let mut v = policy::HealthView::all_up(policy);
    for t in policy.targets() {
        let up =
            probes.ip_state(t.addr).is_none_or(|s| s.is_up()) && vips.ip_up(t.addr) != Some(false);
        v.set_addr(
            t.addr_id,
            if up {
                policy::State::Up
            } else {
                policy::State::Down
            },
        );
    }
    for o in probes.overrides().list() {
        v.apply(policy, &o);
    }
    v
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
