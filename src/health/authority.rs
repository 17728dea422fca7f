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

use crate::cluster::{ClusterView, Liveness, vantage};
use crate::config::{Lvs, OverrideState, OverrideTarget, Vantage, VirtualKey};
use crate::lvs::VipState;

use super::changes::ChangeLog;
use super::overrides::Overrides;
use super::targets::ProbeKey;
use super::verdict::{Evidence, Level, ProbeEvidence, Status, Table, Verdict, resolve};
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

/// A director's report on the VIPs at one address: their quorum, and whether one is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VipReport {
    pub up: bool,
    pub full: bool,
}

impl VipReport {
    pub const UP: VipReport = VipReport {
        up: true,
        full: false,
    };
    pub const DOWN: VipReport = VipReport {
        up: false,
        full: false,
    };
}

/// What the other nodes see, with the rule that weighs it and the time to judge ages by.
#[derive(Clone, Copy)]
pub struct ClusterInput<'a> {
    pub view: &'a ClusterView,
    pub rule: &'a Vantage,
    pub now: tokio::time::Instant,
}

impl ClusterInput<'_> {
    /// Peer directors' fresh reports on VIPs at `ip`: up if one is up; full if an up one is
    /// full.
    pub fn director(&self, ip: IpAddr) -> Option<VipReport> {
        let mut found: Option<VipReport> = None;
        for p in self.view.peers.values() {
            if p.liveness == Liveness::Dead {
                continue;
            }
            for (vip, seen) in &p.vips {
                let at_ip = vip
                    .rsplit(' ')
                    .next()
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                    .is_some_and(|a| a.ip() == ip);
                if at_ip && seen.age(self.now) < self.rule.stale_after {
                    let up = seen.value.quorum == crate::cluster::ProbeState::Up;
                    let prev = found.unwrap_or(VipReport::DOWN);
                    found = Some(VipReport {
                        up: prev.up || up,
                        full: prev.full || (up && seen.value.full),
                    });
                }
            }
        }
        found
    }

    /// The vantage decision on one probe, with its explanation.
    pub fn decide(&self, key: &ProbeKey) -> vantage::Decision {
        self.view.decide(&key.id(), self.rule, self.now)
    }

    /// The vantage verdict on one probe without allocating; `id` is a scratch buffer.
    pub fn tally(&self, key: &ProbeKey, id: &mut String) -> vantage::Tally {
        key.write_id(id);
        self.view.tally(id, self.rule, self.now)
    }
}

/// The probe evidence for `ip`: each check's state, through the vantage quorum when a
/// cluster is given and no director report outranks the other nodes' probes.
fn probe_evidence(
    probes: &HealthView,
    ip: IpAddr,
    cluster: Option<&ClusterInput<'_>>,
    id: &mut String,
) -> ProbeEvidence {
    let mut e = ProbeEvidence::default();
    for (key, status) in probes.ip_probes(ip) {
        let mut state = status.state;
        if let Some(c) = cluster {
            let d = c.tally(key, id);
            let by_quorum = d.by_quorum;
            match d.verdict {
                vantage::Verdict::Up if by_quorum => state = Status::Up,
                vantage::Verdict::Down if by_quorum => state = Status::Down,
                _ => {}
            }
            e.vantage |= by_quorum;
        }
        e.add(state, key.check.start);
    }
    e
}

/// The DNS table: one verdict per registered target, in registration order. `director`
/// gives the local director's quorum for an address it directs a VIP on; `cluster`, when
/// set, what the other nodes see.
pub fn dns_table(
    targets: &[DnsTarget],
    probes: &HealthView,
    director: &dyn Fn(IpAddr) -> Option<VipReport>,
    cluster: Option<&ClusterInput<'_>>,
) -> Table {
    let overrides = probes.overrides();
    let mut id = String::new();
    Table::new(
        targets
            .iter()
            .map(|t| {
                let director =
                    director(t.addr).or_else(|| cluster.and_then(|c| c.director(t.addr)));
                // A director's report outranks the other nodes' probes of its VIP.
                let remote = if director.is_some() { None } else { cluster };
                resolve(&Evidence {
                    forced: dns_override(overrides, t),
                    director: director.map(|d| d.up),
                    full: director.is_some_and(|d| d.full),
                    probe: probe_evidence(probes, t.addr, remote, &mut id),
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
            full: false,
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
        cluster: Option<&ClusterInput<'_>>,
    ) -> Published {
        let local = |ip| {
            vips.ip_up(ip).map(|up| VipReport {
                up,
                full: vips.ip_full(ip),
            })
        };
        let dns = dns_table(&registry.dns, probes, &local, cluster);
        let lvs = real_table(&registry.lvs, probes);
        Published {
            generation,
            registry,
            dns: Arc::new(dns),
            lvs: Arc::new(lvs),
        }
    }
}

/// The cluster as the authority's task sees it.
pub struct ClusterFeed {
    pub view: watch::Receiver<Arc<ClusterView>>,
    pub rule: Vantage,
}

/// How often the authority re-judges the cluster's observations when nothing was heard:
/// an observation goes stale without any message.
/// Ages move by whole seconds against a `stale_after` of seconds; at 1 000 targets each pass
/// costs a lookup per target and peer, so a slower tick is the cheaper one.
const CLUSTER_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// The authority's task: recomputes and publishes both tables whenever the probe view
/// (probe states, overrides), the local director's VIP states, the cluster's view or a
/// registration changes (and, with a cluster, every `CLUSTER_TICK`); publishes only when
/// a table changed.
pub struct Authority {
    probes: watch::Receiver<Arc<HealthView>>,
    vips: watch::Receiver<VipState>,
    registry: watch::Receiver<Arc<Registry>>,
    cluster: Option<ClusterFeed>,
    out: watch::Sender<Arc<Published>>,
    /// The last status changes published (the status page's "recent changes").
    changes: watch::Sender<Arc<ChangeLog>>,
}

impl Authority {
    /// The first publication is computed at once from the current inputs.
    pub fn new(
        probes: watch::Receiver<Arc<HealthView>>,
        vips: watch::Receiver<VipState>,
        registry: watch::Receiver<Arc<Registry>>,
        cluster: Option<ClusterFeed>,
    ) -> (Authority, watch::Receiver<Arc<Published>>) {
        let mut a = Authority {
            probes,
            vips,
            registry,
            cluster,
            out: watch::channel(Arc::new(Published::default())).0,
            changes: watch::channel(Arc::default()).0,
        };
        let first = a.compute(1);
        let (out, rx) = watch::channel(Arc::new(first));
        a.out = out;
        (a, rx)
    }

    /// The recent status changes, updated with every publication that changes a status.
    pub fn changes(&self) -> watch::Receiver<Arc<ChangeLog>> {
        self.changes.subscribe()
    }

    fn compute(&mut self, generation: u64) -> Published {
        let view = self
            .cluster
            .as_mut()
            .map(|c| c.view.borrow_and_update().clone());
        let input = match (&self.cluster, &view) {
            (Some(c), Some(v)) => Some(ClusterInput {
                view: v,
                rule: &c.rule,
                now: tokio::time::Instant::now(),
            }),
            _ => None,
        };
        Published::compute(
            generation,
            self.registry.borrow_and_update().clone(),
            &self.probes.borrow_and_update().clone(),
            &self.vips.borrow_and_update().clone(),
            input.as_ref(),
        )
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        let (mut probes_open, mut vips_open, mut reg_open) = (true, true, true);
        let mut cluster_open = self.cluster.is_some();
        let mut tick = tokio::time::interval(CLUSTER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut generation = self.out.borrow().generation;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                r = self.probes.changed(), if probes_open => probes_open = r.is_ok(),
                r = self.vips.changed(), if vips_open => vips_open = r.is_ok(),
                r = self.registry.changed(), if reg_open => reg_open = r.is_ok(),
                r = cluster_changed(&mut self.cluster), if cluster_open => cluster_open = r,
                _ = tick.tick(), if self.cluster.is_some() => {}
            }
            let next = self.compute(generation + 1);
            let cur = self.out.borrow().clone();
            let same = Arc::ptr_eq(&cur.registry, &next.registry)
                && cur.dns == next.dns
                && cur.lvs == next.lvs;
            if !same {
                generation += 1;
                let at_ms = super::statefile::unix_ms(std::time::SystemTime::now());
                let changed = super::changes::diff(&cur, &next, at_ms);
                if !changed.is_empty() {
                    self.changes
                        .send_modify(|log| Arc::make_mut(log).extend(changed));
                }
                self.out.send_replace(Arc::new(next));
            }
        }
    }
}

/// Waits for a new cluster view; false when the cluster is gone.
async fn cluster_changed(c: &mut Option<ClusterFeed>) -> bool {
    match c {
        Some(c) => c.view.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}
