//! The health authority: the only code that turns evidence into the tables consumers read.
//!
//! ```text
//!  probe view (scheduler: probe states + overrides) --+
//!  local director's VIP quorum (lvs::run)           --+--> Authority::publish --> Published
//!  registrations: DNS targets (policy), real servers --+        | dns: Table by TargetId (policy)
//!                                                               | lvs: RealTable (director)
//! ```
//!
//! DNS policy registers its targets, one per (site, link, address) occurrence, in the order of
//! its own target ids; the LVS director's targets are the real servers of `[lvs]`. For each
//! target the authority gathers the [`Evidence`] (the most specific override, the director's
//! report, the probe states of every check of that address) and calls [`resolve`]. Both
//! functions here are pure: the task that feeds them lives in `serve`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Lvs, OverrideState, OverrideTarget, VirtualKey};
use crate::lvs::VipState;

use super::overrides::Overrides;
use super::targets::ProbeKey;
use super::verdict::{Evidence, Level, ProbeEvidence, Table, Verdict, resolve};
use super::view::HealthView;

/// One DNS target: an address of a link of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTarget {
    pub site: String,
    pub link: String,
    pub addr: IpAddr,
}

/// One real server of a virtual service, with the probe that checks it (None: unchecked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealTarget {
    pub service: VirtualKey,
    pub real: SocketAddr,
    pub probe: Option<ProbeKey>,
}

impl RealTarget {
    /// Every real server of `[lvs]`, in configuration order.
    pub fn from_config(lvs: &Lvs) -> Vec<RealTarget> {
        let mut out = Vec::new();
        for s in &lvs.services {
            for r in &s.reals {
                out.push(RealTarget {
                    service: s.key,
                    real: r.addr,
                    probe: s.check.as_ref().map(|c| ProbeKey::for_real(r.addr, c)),
                });
            }
        }
        out
    }
}

/// The director's table: a verdict per (virtual service, real server). A real server the
/// table does not hold (not registered yet) counts as up, so a director adopts the kernel's
/// table without touching it before the authority has spoken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealTable {
    reals: BTreeMap<(VirtualKey, SocketAddr), Verdict>,
}

impl RealTable {
    pub fn new() -> RealTable {
        RealTable::default()
    }

    pub fn set(&mut self, service: VirtualKey, real: SocketAddr, v: Verdict) {
        self.reals.insert((service, real), v);
    }

    pub fn get(&self, service: &VirtualKey, real: &SocketAddr) -> Verdict {
        self.reals
            .get(&(*service, *real))
            .copied()
            .unwrap_or(Verdict::UNCHECKED)
    }

    /// The services with at least one real server whose verdict differs between two tables.
    pub fn changed_services(&self, other: &RealTable) -> std::collections::BTreeSet<VirtualKey> {
        let mut out = std::collections::BTreeSet::new();
        for ((k, a), v) in &self.reals {
            if other.get(k, a) != *v {
                out.insert(*k);
            }
        }
        for ((k, a), v) in &other.reals {
            if self.get(k, a) != *v {
                out.insert(*k);
            }
        }
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(VirtualKey, SocketAddr), &Verdict)> {
        self.reals.iter()
    }
}

/// The most specific override for a DNS target: address, then link, then site.
fn dns_override(o: &Overrides, t: &DnsTarget) -> Option<(Level, OverrideState)> {
    if o.is_empty() {
        return None;
    }
    let link = OverrideTarget::Link {
        site: t.site.clone(),
        link: t.link.clone(),
    };
    o.get(&OverrideTarget::Addr(t.addr))
        .map(|s| (Level::Addr, s))
        .or_else(|| o.get(&link).map(|s| (Level::Link, s)))
        .or_else(|| {
            o.get(&OverrideTarget::Site(t.site.clone()))
                .map(|s| (Level::Site, s))
        })
}

/// The DNS table: one verdict per registered target, in registration order. `director`
/// gives the local director's quorum for an address it directs a VIP on.
pub fn dns_table(
    targets: &[DnsTarget],
    probes: &HealthView,
    director: &dyn Fn(IpAddr) -> Option<bool>,
) -> Table {
    let overrides = probes.overrides();
    Table::new(
        targets
            .iter()
            .map(|t| {
                resolve(&Evidence {
                    forced: dns_override(overrides, t),
                    director: director(t.addr),
                    probe: probes.ip_evidence(t.addr),
                })
            })
            .collect(),
    )
}

/// The VIP address of a virtual service (fwmark services have none).
fn vip_ip(k: &VirtualKey) -> Option<IpAddr> {
    match k {
        VirtualKey::Addr { addr, .. } => Some(addr.ip()),
        VirtualKey::Fwmark { .. } => None,
    }
}

/// The director's table: a real server's own address override, else one on its VIP's
/// address (the whole virtual service), else its probe.
pub fn real_table(targets: &[RealTarget], probes: &HealthView) -> RealTable {
    let o = probes.overrides();
    let mut table = RealTable::new();
    for t in targets {
        let forced = o
            .for_addr(t.real.ip())
            .or_else(|| vip_ip(&t.service).and_then(|ip| o.for_addr(ip)))
            .map(|s| (Level::Addr, s));
        let mut probe = ProbeEvidence::default();
        if let Some(key) = &t.probe {
            // A key the view does not hold yet (added by a reload) has no result yet.
            let state = probes.state(key).unwrap_or_default();
            probe.add(state, key.check.start);
        }
        let v = resolve(&Evidence {
            forced,
            director: None,
            probe,
        });
        table.set(t.service, t.real, v);
    }
    table
}

/// The targets each consumer registered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub dns: Vec<DnsTarget>,
    pub lvs: Vec<RealTarget>,
}

/// What the authority publishes: one table per consumer, from the same evidence, for the
/// registry it names (a consumer whose registration changed since waits for the next one).
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Grows with every publication.
    pub generation: u64,
    pub registry: Arc<Registry>,
    pub dns: Arc<Table>,
    pub lvs: Arc<RealTable>,
}

impl Published {
    /// Both tables for `registry` from the current evidence.
    pub fn compute(
        generation: u64,
        registry: Arc<Registry>,
        probes: &HealthView,
        vips: &VipState,
    ) -> Published {
        let dns = dns_table(&registry.dns, probes, &|ip| vips.ip_up(ip));
        let lvs = real_table(&registry.lvs, probes);
        Published {
            generation,
            registry,
            dns: Arc::new(dns),
            lvs: Arc::new(lvs),
        }
    }
}

/// The authority's task: recomputes and publishes both tables whenever the probe view
/// (probe states, overrides), the local director's VIP states or a registration changes.
pub struct Authority {
    probes: watch::Receiver<Arc<HealthView>>,
    vips: watch::Receiver<VipState>,
    registry: watch::Receiver<Arc<Registry>>,
    out: watch::Sender<Arc<Published>>,
}

impl Authority {
    /// The first publication is computed at once from the current inputs.
    pub fn new(
        probes: watch::Receiver<Arc<HealthView>>,
        vips: watch::Receiver<VipState>,
        registry: watch::Receiver<Arc<Registry>>,
    ) -> (Authority, watch::Receiver<Arc<Published>>) {
        let first = Published::compute(
            1,
            registry.borrow().clone(),
            &probes.borrow(),
            &vips.borrow(),
        );
        let (out, rx) = watch::channel(Arc::new(first));
        (
            Authority {
                probes,
                vips,
                registry,
                out,
            },
            rx,
        )
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        let (mut probes_open, mut vips_open, mut reg_open) = (true, true, true);
        let mut generation = self.out.borrow().generation;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                r = self.probes.changed(), if probes_open => probes_open = r.is_ok(),
                r = self.vips.changed(), if vips_open => vips_open = r.is_ok(),
                r = self.registry.changed(), if reg_open => reg_open = r.is_ok(),
            }
            if !(probes_open || vips_open || reg_open) {
                // Every input is gone: nothing can change any more.
                shutdown.cancelled().await;
                return;
            }
            generation += 1;
            let next = Published::compute(
                generation,
                self.registry.borrow_and_update().clone(),
                &self.probes.borrow_and_update().clone(),
                &self.vips.borrow_and_update().clone(),
            );
            self.out.send_replace(Arc::new(next));
        }
    }
}

#[cfg(test)]
mod tests;
