//! The seam between the static answer core and per-client service answers.
//!
//! When a query name is in [`Snapshot::services`], the answer core calls [`resolve`] with the
//! service index, the query type, the client address (the valid ECS address, else the
//! source) and the ECS source prefix; its closure gets a [`ServiceAnswer`]: the addresses,
//! a TTL and the ECS scope to echo. The addresses live in a per-thread scratch list that is
//! allocated once, so the call never allocates afterwards and there is no fixed cap: every
//! address the policy gives is offered to the encoder, which writes the whole set if it fits
//! the response size limit and otherwise sets TC (the client retries over TCP, where the
//! limit is 64 KiB). The decision itself is [`crate::policy::Compiled::select_tallied`],
//! which also counts the (service, site, link) it chose into the snapshot's
//! [`AnswerCounters`].

use std::net::IpAddr;

use crate::metrics::{AnswerCounters, AnswerPath};
use crate::policy::{Compiled, LinkId, Outcome, ServiceId, SiteId, Tally};
use crate::state::Snapshot;

/// What a service resolves to for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAnswer<'a> {
    /// The addresses of the asked family (empty: NODATA).
    pub addrs: &'a [IpAddr],
    pub ttl: u32,
    /// ECS scope prefix length to return (0 = valid for every client).
    pub scope: u8,
}

impl ServiceAnswer<'_> {
    pub const EMPTY: ServiceAnswer<'static> = ServiceAnswer {
        addrs: &[],
        ttl: 0,
        scope: 0,
    };
}

thread_local! {
    /// Per-thread scratch for the policy's address list: allocated once per thread, on
    /// its first service answer (a const initialiser makes each access a plain TLS load).
    static SCRATCH: std::cell::RefCell<Vec<IpAddr>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Capacity reserved on a thread's first service answer (it grows if a service has more).
const INITIAL_ADDRS: usize = 64;

/// Calls `f` with the addresses of `service` of family `qtype` (A or AAAA) for `client`.
/// The ECS scope is the policy's (the widest prefix with the same answer) when the client
/// address came from ECS, for addresses and for NODATA alike: a NODATA that depends on the
/// client holds only over that prefix (a NODATA that holds for every client has scope 0
/// from the policy itself). Without ECS the scope is 0.
pub fn resolve<R>(
    snapshot: &Snapshot,
    service: u32,
    qtype: u16,
    client: IpAddr,
    ecs_source: Option<u8>,
    f: impl FnOnce(&ServiceAnswer<'_>) -> R,
) -> R {
    let Some(policy) = snapshot.policy.as_deref() else {
        return f(&ServiceAnswer::EMPTY);
    };
    let v6 = qtype == crate::dns::zone::TYPE_AAAA;
    SCRATCH.with(|scratch| {
        let Ok(mut addrs) = scratch.try_borrow_mut() else {
            return f(&ServiceAnswer::EMPTY);
        };
        if addrs.capacity() < INITIAL_ADDRS {
            addrs.reserve(INITIAL_ADDRS);
        }
        let mut tally = Count {
            counters: &snapshot.answers,
            service: service as usize,
        };
        let d = policy.select_tallied(
            ServiceId(service),
            client,
            v6,
            &snapshot.health,
            &mut addrs,
            &mut tally,
        );
        let answer = ServiceAnswer {
            addrs: if d.outcome == Outcome::Answer {
                &addrs
            } else {
                &[]
            },
            ttl: d.ttl,
            scope: if ecs_source.is_some() { d.scope } else { 0 },
        };
        f(&answer)
    })
}

/// Counts what a decision chose into the snapshot's answer counters.
struct Count<'a> {
    counters: &'a AnswerCounters,
    service: usize,
}

impl Tally for Count<'_> {
    #[inline]
    fn chosen(&mut self, _site: SiteId, link: LinkId) {
        self.counters.chosen(self.service, link.index());
    }
    #[inline]
    fn fallback(&mut self) {
        self.counters.fallback(self.service);
    }
}

/// The answer counters of every (service, site, link) `policy` can choose, made (or found
/// again) once per compile so the query path only indexes them.
pub fn answer_counters(policy: &Compiled) -> AnswerCounters {
    let names: Vec<&str> = (0..policy.service_count())
        .map(|i| policy.service_name(ServiceId(i as u32)).unwrap_or(""))
        .collect();
    let paths = policy.answer_paths();
    AnswerCounters::new(
        &names,
        policy.link_count(),
        paths.iter().map(|p| AnswerPath {
            service: p.service.0 as usize,
            service_name: p.service_name,
            site_name: p.site_name,
            link: p.link.index(),
            link_name: p.link_name,
        }),
    )
}

/// Services whose name lies at or below a delegation (zone cut) or a DNAME of the zone that
/// holds it: Meridian is not authoritative there, so such a service is refused, each with
/// the file, line and column of its `name` key.
pub fn names_outside_authority(
    cfg: &crate::config::Config,
    zones: &crate::dns::ZoneSet,
) -> Vec<crate::config::Diagnostic> {
    use crate::dns::zone::{Lookup, TYPE_A};
    let mut out = Vec::new();
    for (id, svc) in &cfg.services {
        let Some(wire) = crate::dns::name::from_text(&svc.fqdn) else {
            continue;
        };
        let lower = crate::dns::name::lowered(&wire);
        let Some(zone) = zones.find(&lower) else {
            continue;
        };
        let why = match zone.lookup(&lower, TYPE_A) {
            Lookup::Referral(cut) => format!(
                "`{}` lies at or below the delegation to {} in zone {}: the child zone's \
                 servers are authoritative there, not Meridian",
                svc.name,
                crate::dns::name::to_text(&cut.name),
                crate::dns::name::to_text(&zone.origin)
            ),
            Lookup::Dname(d) => format!(
                "`{}` lies below the DNAME at {}: the name is redirected, not answered",
                svc.name,
                crate::dns::name::to_text(&d.name)
            ),
            _ => continue,
        };
        out.push(crate::config::Diagnostic {
            file: cfg.source.clone(),
            line: svc.name_pos.line,
            column: svc.name_pos.column,
            key: format!("service.{id}.name"),
            message: why,
        });
    }
    out
}
