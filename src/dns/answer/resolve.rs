//! The zone walk behind an authoritative answer: exact and wildcard matches, CNAME and
//! DNAME chains across the served zones (bounded, loop-safe), referrals with glue,
//! negative answers with the SOA, service names, and the additional section.
//!
//! [`Resp`] writes whole RRsets or nothing: an answer or authority RRset that does not
//! fit sets TC and stops the response (NSD's rule); an additional RRset that does not fit
//! is left out silently (RFC 2181 section 9).

use std::net::IpAddr;

use super::{Kind, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_YXDOMAIN, Transport};
use crate::dns::encode::Writer;
use crate::dns::name::{self, MAX_NAME};
use crate::dns::service::{self, ServiceAnswer};
use crate::dns::wire::Query;
use crate::dns::zone::{
    Lookup, Node, RRset, TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_DNAME, TYPE_MX, TYPE_NS, TYPE_SOA,
    TYPE_SRV, Zone,
};
use crate::state::Snapshot;

const TYPE_ANY: u16 = 255;
/// Longest CNAME/DNAME chain followed (NSD follows a similar, small number of links).
const MAX_CHAIN: usize = 8;
/// Most names whose addresses go into the additional section.
const MAX_TARGETS: usize = 16;

const ANSWER: usize = 0;
const AUTHORITY: usize = 1;
const ADDITIONAL: usize = 2;

/// A response being written, section by section, within a size limit.
pub(super) struct Resp<'w> {
    w: Writer<'w>,
    limit: usize,
    tc: bool,
    counts: [u16; 3],
}

impl<'w> Resp<'w> {
    pub(super) fn new(w: Writer<'w>, limit: usize, transport: Transport) -> Resp<'w> {
        let limit = if transport == Transport::Tcp {
            u16::MAX as usize
        } else {
            limit
        };
        Resp {
            w,
            limit,
            tc: false,
            counts: [0; 3],
        }
    }

    pub(super) fn truncated(&self) -> bool {
        self.tc
    }

    /// Writes the section counts and hands the writer back.
    pub(super) fn finish(mut self) -> Writer<'w> {
        self.w.set_u16(6, self.counts[ANSWER]);
        self.w.set_u16(8, self.counts[AUTHORITY]);
        self.w.set_u16(10, self.counts[ADDITIONAL]);
        self.w
    }

    /// Adds a whole RRset or nothing; `ttl` overrides every record's TTL.
    fn rrset(&mut self, section: usize, owner: &[u8], rs: &RRset, ttl: Option<u32>) -> bool {
        if self.tc {
            return false;
        }
        let m = self.w.mark();
        for (t, rd) in rs.ttls.iter().zip(rs.rdatas.iter()) {
            self.w.rr(owner, rs.rtype, rs.class, ttl.unwrap_or(*t), rd);
        }
        self.commit(section, m, rs.rdatas.len())
    }

    fn commit(&mut self, section: usize, m: crate::dns::encode::Mark, n: usize) -> bool {
        if self.w.len() > self.limit {
            self.w.rollback(m);
            if section != ADDITIONAL {
                self.tc = true;
            }
            return false;
        }
        self.counts[section] = self.counts[section].saturating_add(n as u16);
        true
    }

    /// Adds address records of one family from a service answer. `owner_at` is where the
    /// owner name already is in the message (the question), if known: every record then
    /// points there, the bytes the compressor would find, without searching for them.
    fn addrs(
        &mut self,
        owner: &[u8],
        owner_at: Option<u16>,
        qtype: u16,
        sa: &ServiceAnswer<'_>,
    ) -> usize {
        if self.tc {
            return 0;
        }
        let m = self.w.mark();
        let mut n = 0usize;
        for ip in sa.addrs {
            let (rtype, bytes): (u16, &[u8]) = match ip {
                IpAddr::V4(a) => (TYPE_A, &a.octets()[..]),
                IpAddr::V6(a) => (TYPE_AAAA, &a.octets()[..]),
            };
            if rtype != qtype {
                continue;
            }
            match owner_at {
                Some(at) => self.w.u16(0xC000 | at),
                None => self.w.name(owner, true),
            }
            self.w.u16(rtype);
            self.w.u16(1);
            self.w.u32(sa.ttl);
            self.w.u16(bytes.len() as u16);
            self.w.bytes(bytes);
            n += 1;
        }
        if self.commit(ANSWER, m, n) { n } else { 0 }
    }
}

/// What the walk decided, beyond the records written.
pub(super) struct Resolved {
    pub kind: Kind,
    pub rcode: u16,
    pub aa: bool,
    pub scope: u8,
    /// The answer (addresses or NODATA) came from a service's policy.
    pub service: bool,
}

/// A name held on the stack while a chain is followed.
struct NameBuf {
    buf: [u8; MAX_NAME],
    len: usize,
}

impl NameBuf {
    fn set(&mut self, parts: &[&[u8]]) -> bool {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total > MAX_NAME {
            return false;
        }
        let mut at = 0;
        for p in parts {
            self.buf[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        self.len = total;
        true
    }

    fn get(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// `lname` is the query name lower-cased. A service name asked for A or AAAA is answered
/// before any of the chain-following state is set up: that is the per-client hot path.
pub(super) fn resolve<'s>(
    snapshot: &'s Snapshot,
    first_zone: &'s Zone,
    q: &Query<'_>,
    lname: &[u8],
    r: &mut Resp<'_>,
    client: IpAddr,
    ecs_source: Option<u8>,
) -> Resolved {
    let qtype = q.qtype;
    if (qtype == TYPE_A || qtype == TYPE_AAAA)
        && !snapshot.services.is_empty()
        && let Some(&svc) = snapshot.services.get(lname)
    {
        // The owner is the question name, written at the header's end.
        let at = crate::dns::wire::HEADER_LEN as u16;
        return service_answer(
            snapshot,
            first_zone,
            svc,
            q.qname,
            Some(at),
            q,
            r,
            client,
            ecs_source,
        );
    }
    let mut cur = NameBuf {
        buf: [0; MAX_NAME],
        len: 0,
    };
    cur.set(&[q.qname]);
    let mut zone = first_zone;
    let mut res = Resolved {
        kind: Kind::Answer,
        rcode: RCODE_NOERROR,
        aa: true,
        scope: 0,
        service: false,
    };
    let mut targets: [&'s [u8]; MAX_TARGETS] = [&[]; MAX_TARGETS];
    let mut ntargets = 0usize;
    let mut seen: [*const Node; MAX_CHAIN + 1] = [std::ptr::null(); MAX_CHAIN + 1];
    let mut lbuf = [0u8; MAX_NAME];

    for hop in 0..=MAX_CHAIN {
        let lname = name::lower_into(cur.get(), &mut lbuf);
        // Hop 0 was looked up before the loop.
        if hop > 0
            && (qtype == TYPE_A || qtype == TYPE_AAAA)
            && !snapshot.services.is_empty()
            && let Some(&svc) = snapshot.services.get(lname)
        {
            let owner = cur.get();
            let s = service_answer(snapshot, zone, svc, owner, None, q, r, client, ecs_source);
            res.scope = s.scope;
            res.kind = s.kind;
            res.service = true;
            break;
        }
        // A service name exists even when the zone file has nothing there: other types get
        // NODATA, never NXDOMAIN or a wildcard's data (RFC 8020: NXDOMAIN denies the name).
        let service_name = !snapshot.services.is_empty() && snapshot.services.contains_key(lname);
        let (node, _wild) = match zone.lookup(lname, qtype) {
            Lookup::Found(n) => (n, false),
            Lookup::Wildcard(n) if !service_name => (n, true),
            Lookup::NxDomain | Lookup::Wildcard(_) if service_name => {
                res.kind = Kind::NoData;
                negative(r, zone);
                break;
            }
            Lookup::Wildcard(n) => (n, true),
            Lookup::NxDomain => {
                res.kind = Kind::NxDomain;
                res.rcode = RCODE_NXDOMAIN;
                negative(r, zone);
                break;
            }
            Lookup::Referral(cut) => {
                res.aa = hop > 0;
                res.kind = Kind::Referral;
                if let Some(ns) = cut.rrset(TYPE_NS) {
                    r.rrset(AUTHORITY, &cut.name, ns, None);
                    collect(ns, &mut targets, &mut ntargets);
                }
                break;
            }
            Lookup::Dname(dn) => {
                let Some(d) = dn.rrset(TYPE_DNAME) else { break };
                if !r.rrset(ANSWER, &dn.name, d, None) {
                    break;
                }
                let Some(target) = d.rdatas.first().and_then(|rd| rd.first_name()) else {
                    break;
                };
                let prefix_len = cur.len.saturating_sub(dn.name.len());
                let mut next = NameBuf {
                    buf: [0; MAX_NAME],
                    len: 0,
                };
                if !next.set(&[&cur.get()[..prefix_len], target]) {
                    res.rcode = RCODE_YXDOMAIN;
                    break;
                }
                let ttl = d.ttls.first().copied().unwrap_or(0);
                if !synth_cname(r, cur.get(), next.get(), ttl) || qtype == TYPE_CNAME {
                    break;
                }
                cur = next;
                match snapshot.zones.find_any_case(cur.get()) {
                    Some(z) => zone = z,
                    None => break,
                }
                continue;
            }
        };
        let rrset = if qtype == TYPE_ANY {
            node.any_rrset()
        } else {
            node.rrset(qtype)
        };
        if let Some(rs) = rrset {
            if r.rrset(ANSWER, cur.get(), rs, None)
                && matches!(rs.rtype, TYPE_MX | TYPE_SRV | TYPE_NS)
            {
                collect(rs, &mut targets, &mut ntargets);
            }
            break;
        }
        if qtype != TYPE_CNAME
            && let Some(c) = node.rrset(TYPE_CNAME)
        {
            let p: *const Node = node;
            if seen[..hop].contains(&p) {
                break;
            }
            seen[hop] = p;
            if !r.rrset(ANSWER, cur.get(), c, None) {
                break;
            }
            let Some(target) = c.rdatas.first().and_then(|rd| rd.first_name()) else {
                break;
            };
            match snapshot.zones.find_any_case(target) {
                Some(z) => zone = z,
                None => break,
            }
            cur.set(&[target]);
            continue;
        }
        res.kind = Kind::NoData;
        negative(r, zone);
        break;
    }
    additional(snapshot, r, &targets[..ntargets]);
    res
}

/// Addresses of service `svc` for the client at `owner` (NODATA with the SOA when none).
#[allow(clippy::too_many_arguments)]
fn service_answer(
    snapshot: &Snapshot,
    zone: &Zone,
    svc: u32,
    owner: &[u8],
    owner_at: Option<u16>,
    q: &Query<'_>,
    r: &mut Resp<'_>,
    client: IpAddr,
    ecs_source: Option<u8>,
) -> Resolved {
    service::resolve(snapshot, svc, q.qtype, client, ecs_source, |sa| {
        let kind = if r.addrs(owner, owner_at, q.qtype, sa) == 0 && !r.tc {
            negative(r, zone);
            Kind::NoData
        } else {
            Kind::Service
        };
        Resolved {
            kind,
            rcode: RCODE_NOERROR,
            aa: true,
            scope: sa.scope,
            service: true,
        }
    })
}

/// The SOA in authority for NXDOMAIN and NODATA, TTL capped by MINIMUM (RFC 2308).
fn negative(r: &mut Resp<'_>, zone: &Zone) {
    let apex = zone.apex();
    if let Some(soa) = apex.rrset(TYPE_SOA) {
        r.rrset(AUTHORITY, &apex.name, soa, Some(zone.negative_ttl));
    }
}

/// A CNAME made from a DNAME (RFC 6672 section 2.2), TTL of the DNAME.
fn synth_cname(r: &mut Resp<'_>, owner: &[u8], target: &[u8], ttl: u32) -> bool {
    if r.tc {
        return false;
    }
    let m = r.w.mark();
    r.w.name(owner, true);
    r.w.u16(TYPE_CNAME);
    r.w.u16(1);
    r.w.u32(ttl);
    let len_at = r.w.len();
    r.w.u16(0);
    r.w.name(target, true);
    let rdlen = r.w.len() - len_at - 2;
    r.w.set_u16(len_at, rdlen as u16);
    r.commit(ANSWER, m, 1)
}

fn collect<'s>(rs: &'s RRset, targets: &mut [&'s [u8]; MAX_TARGETS], n: &mut usize) {
    for rd in rs.rdatas.iter() {
        if let Some(t) = rd.first_name()
            && *n < MAX_TARGETS
        {
            targets[*n] = t;
            *n += 1;
        }
    }
}

/// A and then AAAA records of the targets that lie in served zones (glue included). A
/// target bound to a service gets none: its addresses depend on the client, and the zone's
/// static A/AAAA there (if any) is not what the service hands out; the client asks for the
/// name itself and gets the service's answer.
fn additional(snapshot: &Snapshot, r: &mut Resp<'_>, targets: &[&[u8]]) {
    for rtype in [TYPE_A, TYPE_AAAA] {
        for (i, t) in targets.iter().enumerate() {
            if targets[..i].iter().any(|p| p.eq_ignore_ascii_case(t)) {
                continue;
            }
            let mut lbuf = [0u8; MAX_NAME];
            let lt = name::lower_into(t, &mut lbuf);
            if !snapshot.services.is_empty() && snapshot.services.contains_key(lt) {
                continue;
            }
            let Some(z) = snapshot.zones.find(lt) else {
                continue;
            };
            if let Some(rs) = z.exact(lt).and_then(|n| n.rrset(rtype)) {
                r.rrset(ADDITIONAL, t, rs, None);
            }
        }
    }
}
