//! Per-client service answers over real sockets: the policy in `tests/data/geo/geo.toml`
//! (CSV-described City and ASN databases, ISPs by AS number, inline CIDRs and CIDR files,
//! route rules on continent, country, subdivision, asn, isp and cidr, the modes failover,
//! all, nearest and weighted, and the fallbacks all, none and addresses) is served by the
//! real DNS server and asked over UDP and TCP, by clients that differ by ECS option or by
//! their loopback source address (127.x.0.1 are in the test databases).
//!
//! Every expected answer below (address set, TTL, ECS scope) was worked out by hand from
//! the policy file and the CSV files, never by Meridian's code. The scope is the widest
//! prefix around the client over which the answer's *plan* (rule, ordered sites, client
//! ISP) cannot change; with neighbouring networks reasoned about explicitly, e.g.
//! 192.0.2.0/26 in `www` is 26 because 192.0.2.64/27 has the same plan but 192.0.2.96/27
//! (telecom, from isp/telecom.txt) does not. Negative answers and static data carry
//! scope 0 (RFC 7871 section 7.2.1 and 7.4); an ECS option the server does not use for the
//! answer (source prefix 0) gets scope 0; an unusable private ECS address gets a scope
//! covering that private block (RFC 7871 section 9 NAT considerations); the option is
//! echoed byte for byte.

#![allow(clippy::disallowed_methods)] // a test harness waits on wall time

#[path = "support/dnsclient.rs"]
mod dnsclient;
#[path = "support/geo.rs"]
mod geo;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dnsclient::{Proto, ecs_body, ecs_options, exchange, query, rcode};
use geo::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use RecordType::{A, AAAA};

// ---------------------------------------------------------------------------------------
// The tables. Regions of the test databases (IPv4):
//   R1 192.0.2.0/26, R2 192.0.2.64/27   US NY (NA)
//   R3 192.0.2.96/27                    US NY (NA), ISP telecom (isp/telecom.txt)
//   R4 192.0.2.128/26                   GB ENG (EU)
//   R5 192.0.2.192/26                   GB ENG (EU), www's route cidr
//   R6 198.51.100.0/25                  CN SH, AS4837, ISP telecom (inline cidr beats AS)
//   R7 198.51.100.128/25                CN SH, AS4837, ISP unicom
//   R8 203.0.113.0/26                   CN BJ, AS4134, ISP mobile (isp/mobile.txt)
//   R9 203.0.113.64/26, R10 .128/25     CN BJ, AS4134, ISP telecom
//   everything else: unknown (the service's default plan, no ISP, no coordinates)
// IPv6: 2001:db8::/32 DE BE (EU); 2001:db8:1::/49 CN telecom; 2001:db8:1:8000::/49 CN
//   mobile; 2001:db8:2::/48 US TX (NA), its upper /49 in www's route cidr; 2001:db8:3::/48
//   AU VIC (OC).

#[rustfmt::skip]
const BASE: &[Row] = &[
    // www: failover; rules: cidr -> [us]; EU,NA -> [dr,hq]; AU -> [syd,hq]; CN-GD -> [dr,hq];
    // default [hq,dr]. ISP links: hq telecom/unicom/mobile, dr telecom.
    e(WWW, A,    "192.0.2.5",       32, Is(&[DR_D4]), 30, 26), // R1; R1+R2+R3 /25 is not uniform
    e(WWW, AAAA, "192.0.2.5",       32, Is(&[DR_D6]), 30, 26),
    e(WWW, A,    "192.0.2.64",      27, Is(&[DR_D4]), 30, 27), // R2; its /26 holds R3
    e(WWW, A,    "192.0.2.96",      27, Is(&[DR_T]),  30, 27), // R3: dr's telecom link
    e(WWW, AAAA, "192.0.2.96",      27, NoData,       30, 27), // telecom link has no IPv6
    e(WWW, A,    "192.0.2.128",     26, Is(&[DR_D4]), 30, 26), // R4; its /25 holds R5
    e(WWW, A,    "192.0.2.192",     26, US,           30, 26), // R5: cidr rule -> us
    e(WWW, AAAA, "192.0.2.200",     32, NoData,       30, 26), // us has no IPv6
    e(WWW, A,    "192.0.2.0",       24, Is(&[DR_D4]), 30, 26), // source 24, answer for R1
    e(WWW, A,    "192.0.0.0",       22, Is(&[HQ_D4]), 30, 23), // unknown 192.0.0.0/23; /22 holds 192.0.2
    e(WWW, A,    "198.51.0.0",      16, Is(&[HQ_D4]), 30, 18), // 198.51.0.0/18 unknown; /17 holds .100
    e(WWW, A,    "198.51.100.0",    24, Is(&[HQ_T]),  30, 25), // R6
    e(WWW, A,    "198.51.100.128",  25, Is(&[HQ_U]),  30, 25), // R7
    e(WWW, AAAA, "198.51.100.128",  25, NoData,       30, 25),
    e(WWW, A,    "203.0.113.0",     26, Is(&[HQ_M]),  30, 26), // R8
    e(WWW, A,    "203.0.113.64",    26, Is(&[HQ_T]),  30, 26), // R9; its /25 holds R8
    e(WWW, A,    "203.0.113.128",   25, Is(&[HQ_T]),  30, 25), // R10
    e(WWW, A,    "203.0.113.0",     24, Is(&[HQ_M]),  30, 26),
    e(WWW, AAAA, "2001:db8:ff00::", 40, Is(&[DR_D6]), 30, 33), // DE; 2001:db8:8000::/33 uniform
    e(WWW, A,    "2001:db8:100::",  40, Is(&[DR_D4]), 30, 40), // its /39 holds 2001:db8:1::
    e(WWW, AAAA, "2001:db8:4::",    48, Is(&[DR_D6]), 30, 46), // 2001:db8:4::/46 uniform
    e(WWW, A,    "2001:db8:1::",    56, Is(&[HQ_T]),  30, 49),
    e(WWW, AAAA, "2001:db8:1::",    56, NoData,       30, 49),
    e(WWW, A,    "2001:db8:1:8000::", 56, Is(&[HQ_M]), 30, 49),
    e(WWW, AAAA, "2001:db8:2::",    56, Is(&[DR_D6]), 30, 49), // TX; upper /49 is the cidr rule
    e(WWW, A,    "2001:db8:2:8000::", 56, US,         30, 49),
    e(WWW, AAAA, "2001:db8:2:8000::", 56, NoData,     30, 49),
    e(WWW, AAAA, "2001:db8:3::",    48, Is(&[SYD]),   30, 48), // AU -> syd
    e(WWW, A,    "2001:db8:3::",    48, NoData,       30, 48), // syd has no IPv4: no move to hq
    e(WWW, A,    "::ffff:192.0.2.5", 128, Is(&[DR_D4]), 30, 122), // IPv4-mapped: 96 + 26
    s(WWW, A,    "127.1.0.1", Is(&[HQ_T]),  30), // CN BJ AS4134 telecom
    s(WWW, AAAA, "127.1.0.1", NoData,       30),
    s(WWW, A,    "127.2.0.1", Is(&[DR_D4]), 30), // CN-GD rule; unicom has no dr link
    s(WWW, AAAA, "127.2.0.1", Is(&[DR_D6]), 30),
    s(WWW, A,    "127.3.0.1", Is(&[DR_D4]), 30), // DE
    s(WWW, A,    "127.4.0.1", Is(&[DR_D4]), 30), // US
    s(WWW, A,    "127.5.0.1", NoData,       30), // AU -> syd
    s(WWW, AAAA, "127.5.0.1", Is(&[SYD]),   30),
    s(WWW, A,    "127.6.0.1", Is(&[HQ_D4]), 30), // JP, AS2516 (no ISP)
    s(WWW, AAAA, "127.6.0.1", Is(&[HQ_D6]), 30),
    s(WWW, A,    "127.9.0.1", Is(&[HQ_T]),  30), // telecom by cidr file only
    s(WWW, A,    "127.10.0.1", Is(&[HQ_M]), 30), // mobile by cidr file only
    s(WWW, A,    "127.0.0.1", Is(&[HQ_D4]), 30), // unknown
    se(WWW, A,    "127.3.0.1", "0.0.0.0", 0, Is(&[DR_D4]), 30, 0), // ECS /0: the source decides
    se(WWW, AAAA, "127.5.0.1", "::",      0, Is(&[SYD]),   30, 0),
    se(WWW, A,    "127.3.0.1", "10.1.2.0",   24, Is(&[DR_D4]), 30, 8), // private: source decides,
    se(WWW, AAAA, "127.5.0.1", "fd00:1::",   32, Is(&[SYD]),   30, 7), // scope = private block

    // api: all of [hq,dr,us]; rules: isp mobile -> [dr]; asn 4134 -> [hq]; subdivision NY
    // (bare) -> [us]; these three in failover mode.
    e(API, A,    "192.0.2.5",      32, US,                                 20, 26), // NY
    e(API, AAAA, "192.0.2.5",      32, NoData,                             20, 26),
    e(API, A,    "192.0.2.96",     27, US,                                 20, 27), // NY + telecom
    e(API, A,    "192.0.2.128",    25, Is(&[HQ_D4, DR_D4, US30, US31]),     20, 25), // GB: default
    e(API, AAAA, "192.0.2.128",    25, Is(&[HQ_D6, DR_D6]),                 20, 25),
    e(API, A,    "198.51.100.0",   25, Is(&[HQ_T, DR_T, US30, US31]),       20, 25), // telecom links
    e(API, AAAA, "198.51.100.0",   25, NoData,                             20, 25),
    e(API, A,    "198.51.100.128", 25, Is(&[HQ_U, DR_D4, US30, US31]),      20, 25), // unicom
    e(API, AAAA, "198.51.100.128", 25, Is(&[DR_D6]),                        20, 25),
    e(API, A,    "203.0.113.0",    26, Is(&[DR_D4]),                        20, 26), // isp rule
    e(API, A,    "203.0.113.64",   26, Is(&[HQ_T]),                         20, 26), // asn rule
    e(API, A,    "203.0.113.128",  25, Is(&[HQ_T]),                         20, 25),
    e(API, A,    "192.0.0.0",      22, Is(&[HQ_D4, DR_D4, US30, US31]),     20, 23),
    e(API, AAAA, "2001:db8:3::",   48, Is(&[HQ_D6, DR_D6]),                 20, 47), // 2:: and 3:: alike
    e(API, AAAA, "2001:db8:ff00::", 40, Is(&[HQ_D6, DR_D6]),                20, 33),
    e(API, AAAA, "2001:db8:1:8000::", 56, Is(&[DR_D6]),                     20, 49),
    e(API, A,    "2001:db8:1::",   56, Is(&[HQ_T]),                         20, 49),
    s(API, A,    "127.10.0.1", Is(&[DR_D4]),                  20), // mobile, no AS number
    s(API, A,    "127.1.0.1",  Is(&[HQ_T]),                   20), // asn 4134
    s(API, A,    "127.2.0.1",  Is(&[HQ_U, DR_D4, US30, US31]), 20), // unicom: default all
    s(API, AAAA, "127.4.0.1",  Is(&[HQ_D6, DR_D6]),           20), // US CA: not NY

    // near: nearest of [hq Beijing, dr Frankfurt, us Palo Alto, syd Sydney].
    e(NEAR, A,    "192.0.2.0",      26, US,           60, 26), // New York: us 4100 km
    e(NEAR, AAAA, "192.0.2.0",      26, NoData,       60, 26),
    e(NEAR, A,    "192.0.2.96",     27, US,           60, 27), // telecom: us has no such link
    e(NEAR, A,    "192.0.2.128",    25, Is(&[DR_D4]), 60, 25), // London (R4+R5 one plan here)
    e(NEAR, A,    "198.51.100.0",   25, Is(&[HQ_T]),  60, 25), // Shanghai
    e(NEAR, A,    "198.51.100.128", 25, Is(&[HQ_U]),  60, 25),
    e(NEAR, A,    "203.0.113.0",    26, Is(&[HQ_M]),  60, 26),
    e(NEAR, A,    "198.51.0.0",     16, Is(&[HQ_D4]), 60, 18), // no coordinates: list order
    e(NEAR, AAAA, "2001:db8:ff00::", 40, Is(&[DR_D6]), 60, 33), // Berlin
    e(NEAR, A,    "2001:db8:2::",   56, US,           60, 48), // Austin, both /49 halves alike
    e(NEAR, AAAA, "2001:db8:3::",   48, Is(&[SYD]),   60, 48), // Melbourne
    e(NEAR, A,    "2001:db8:3::",   48, NoData,       60, 48),
    s(NEAR, A,    "127.3.0.1", Is(&[DR_D4]), 60), // Frankfurt
    s(NEAR, A,    "127.4.0.1", US,           60), // Palo Alto
    s(NEAR, AAAA, "127.5.0.1", Is(&[SYD]),   60), // Sydney
    s(NEAR, A,    "127.6.0.1", Is(&[HQ_D4]), 60), // Tokyo: Beijing 2100 km
    s(NEAR, A,    "127.8.0.1", Is(&[DR_D4]), 60), // Johannesburg: Frankfurt 8700 km
    s(NEAR, A,    "127.1.0.1", Is(&[HQ_T]),  60), // Beijing, telecom
    s(NEAR, A,    "127.0.0.1", Is(&[HQ_D4]), 60), // unknown: list order

    // wts: weighted hq 3 : dr 1, stable per /24 or /56 (scope at least that); NA -> [dr].
    e(WTS, A,    "192.0.2.0",      26, Is(&[DR_D4]), 45, 26),
    e(WTS, A,    "192.0.2.96",     27, Is(&[DR_T]),  45, 27),
    e(WTS, AAAA, "2001:db8:2::",   56, Is(&[DR_D6]), 45, 56), // table /48, weighted /56
    e(WTS, A,    "192.0.2.128",    25, OneOf(&[&[HQ_D4], &[DR_D4]]), 45, 25),
    e(WTS, A,    "198.51.100.0",   25, OneOf(&[&[HQ_T], &[DR_T]]),   45, 25),
    e(WTS, AAAA, "2001:db8:ff00::", 40, OneOf(&[&[HQ_D6], &[DR_D6]]), 45, 56),
    s(WTS, A,    "127.4.0.1", Is(&[DR_D4]), 45),

    // cap: failover [hq, dr, us] with spill = "capacity" and link_fallback = "any"; all up
    e(CAP, A,    "198.51.100.0",   25, Is(&[HQ_T]),  40, 25), // telecom; the /24 holds unicom
    e(CAP, A,    "192.0.2.128",    25, Is(&[HQ_D4]), 40, 25), // no ISP; 192.0.2.96/27 telecom
    e(CAP, AAAA, "192.0.2.128",    25, Is(&[HQ_D6]), 40, 25),

    // static data next to the services: scope 0 whatever the ECS option says
    e("static.geo.test.", A,    "192.0.2.0",    24, Is(&["192.0.2.80"]),   3600, 0),
    e("static.geo.test.", AAAA, "2001:db8:1::", 48, Is(&["2001:db8::80"]), 3600, 0),
    e("x.wild.geo.test.", A,    "203.0.113.0",  24, Is(&["192.0.2.98"]),   3600, 0),
];

/// geo.toml + overrides-some.toml: hq down, dr's telecom link down, 198.51.100.31 draining.
/// Every answer that is not the client's healthy first choice has `ttl_degraded` (10 by
/// default, min(ttl, 10); cap.geo.test sets 5).
#[rustfmt::skip]
const SOME_DOWN: &[Row] = &[
    e(WWW, A,    "198.51.100.0",  25, Is(&[DR_D4]), 10, 25), // hq down; dr telecom down -> default
    e(WWW, AAAA, "198.51.100.0",  25, Is(&[DR_D6]), 10, 25), // so now there is IPv6
    e(WWW, A,    "192.0.2.96",    27, Is(&[DR_D4]), 10, 27), // dr first, link fallback
    e(WWW, A,    "192.0.2.192",   26, Is(&[US30]),  30, 26), // drain counts as down; first choice
    e(WWW, A,    "203.0.113.0",   26, Is(&[DR_D4]), 10, 26),
    s(WWW, A,    "127.6.0.1", Is(&[DR_D4]), 10),
    e(API, A,    "198.51.100.128", 25, Is(&[DR_D4, US30]), 10, 25), // all: hq left out
    e(API, AAAA, "198.51.100.128", 25, Is(&[DR_D6]),       10, 25),
    e(API, A,    "203.0.113.64",  26, NoData,       20, 26), // [hq] only: fallback none
    e(API, A,    "192.0.2.5",     32, Is(&[US30]),  20, 26),
    e(NEAR, A,   "192.0.2.0",     26, Is(&[US30]),  60, 26),
    s(NEAR, A,   "127.1.0.1", Is(&[DR_D4]), 10), // Beijing: dr 7800 km next; telecom link down
    s(NEAR, A,   "127.6.0.1", NoData,       10), // Tokyo: syd 7800 km next (us 8300), no IPv4
    s(NEAR, AAAA, "127.6.0.1", Is(&[SYD]),  10),
    // only dr left: 45 if dr is this /56's top-ranked site, else 10 (the hash decides;
    // weighted_top_site_down_gets_the_degraded_ttl checks which, client by client)
    e(WTS, AAAA, "2001:db8:ff00::", 40, Is(&[DR_D6]), 45, 56).or_ttl(10),
    e(WTS, A,    "198.51.100.0",  25, Is(&[DR_D4]), 10, 25), // moved, or dr via a link fallback
    // cap: hq down, spread over dr (capacity 3) and us (1) by the client's /24 or wider
    e(CAP, A,    "192.0.2.128",   25, OneOf(&[&[DR_D4], &[US30]]), 5, 25),
    e(CAP, A,    "198.51.100.0",  25, OneOf(&[&[DR_D4], &[US30]]), 5, 25), // dr: telecom down
];

/// geo.toml + overrides-all-down.toml: every site forced down by an operator. The
/// fallbacks answer, but fail-open (`fallback = "all"`) never hands out what an operator
/// took out: NODATA, with the plan block's scope.
#[rustfmt::skip]
const ALL_DOWN: &[Row] = &[
    e(WWW, A,    "192.0.2.0",     26, NoData,              10, 26),
    e(WWW, AAAA, "192.0.2.0",     26, NoData,              10, 26),
    e(WWW, A,    "198.51.100.0",  25, NoData,              10, 25),
    e(WWW, AAAA, "198.51.100.0",  25, NoData,              10, 25),
    e(WWW, A,    "192.0.2.192",   26, NoData,              10, 26),
    s(WWW, A,    "127.5.0.1", NoData, 10),
    e(API, A,    "192.0.2.128",   25, NoData,              20, 25), // none
    e(API, AAAA, "2001:db8:3::",  48, NoData,              20, 47),
    e(NEAR, A,   "192.0.2.0",     24, Is(&["192.0.2.99"]), 10, 26), // addresses, of the family
    e(NEAR, AAAA, "2001:db8:3::", 48, Is(&["2001:db8::99"]), 10, 48),
    s(NEAR, A,   "127.4.0.1", Is(&["192.0.2.99"]), 10),
    e(WTS, AAAA, "2001:db8:ff00::", 40, NoData,            10, 33), // no weighted narrowing
    e(WTS, A,    "192.0.2.96",    27, NoData,              10, 27),
];

/// geo.toml with every target down by probe (nothing forced): the fallbacks answer, and
/// fail-open hands out each site's link for the client (ISP link, else `default`) ignoring
/// the probes, all with `ttl_degraded`.
#[rustfmt::skip]
const PROBED_DOWN: &[Row] = &[
    e(WWW, A,    "192.0.2.0",     26, Is(&[DR_D4, HQ_D4]), 10, 26), // all: every site, ISP link
    e(WWW, AAAA, "192.0.2.0",     26, Is(&[DR_D6, HQ_D6]), 10, 26),
    e(WWW, A,    "198.51.100.0",  25, Is(&[HQ_T, DR_T]),   10, 25),
    e(WWW, AAAA, "198.51.100.0",  25, NoData,              10, 25),
    e(WWW, A,    "192.0.2.192",   26, US,                  10, 26), // addresses' health ignored too
    s(WWW, A,    "127.5.0.1", Is(&[HQ_D4]),      10), // [syd, hq]
    s(WWW, AAAA, "127.5.0.1", Is(&[SYD, HQ_D6]), 10),
    e(API, A,    "192.0.2.128",   25, NoData,              20, 25),  // none
    e(NEAR, A,   "192.0.2.0",     24, Is(&["192.0.2.99"]), 10, 26),
    e(WTS, AAAA, "2001:db8:ff00::", 40, Is(&[HQ_D6, DR_D6]), 10, 33), // no weighted narrowing
    e(WTS, A,    "192.0.2.96",    27, Is(&[DR_T]),         10, 27),
    e(CAP, A,    "192.0.2.128",   25, Is(&[HQ_D4, DR_D4, US30, US31]), 5, 25),
];

/// geo.toml + overrides-links.toml: hq's telecom and default links down. `www` keeps the
/// default link chain (ISP link, `default`, next site); `cap` has `link_fallback = "any"`:
/// then hq's other links in file order (telecom, unicom, mobile, default).
#[rustfmt::skip]
const LINKS_DOWN: &[Row] = &[
    e(WWW, A,    "198.51.100.0",  25, Is(&[DR_T]),  10, 25), // hq unusable for telecom: dr
    e(CAP, A,    "198.51.100.0",  25, Is(&[HQ_U]),  5,  25), // telecom, default, then unicom
    e(CAP, A,    "192.0.2.128",   25, Is(&[HQ_U]),  5,  25), // no ISP: default, telecom, unicom
    e(CAP, AAAA, "192.0.2.128",   25, NoData,       5,  25), // unicom has no IPv6: no next site
    e(WWW, A,    "192.0.2.128",   26, Is(&[DR_D4]), 30, 26), // GB: dr first, unaffected
    e(CAP, A,    "203.0.113.0",   26, Is(&[HQ_M]),  40, 26), // mobile link up: first choice
];

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn base_policy_answers_per_client() {
    assert!(BASE.len() >= 60);
    let srv = start(&[]);
    run_table(srv.addr, BASE);
}

#[test]
fn overrides_change_answers() {
    let srv = start(&["overrides-some.toml"]);
    run_table(srv.addr, SOME_DOWN);
}

#[test]
fn fallbacks_when_every_site_is_down() {
    let srv = start(&["overrides-all-down.toml"]);
    run_table(srv.addr, ALL_DOWN);
    let down = meridian::health::Verdict {
        status: meridian::health::Status::Down,
        source: meridian::health::Source::Probe,
    };
    let srv = start_with(&[], |_| Some(down));
    run_table(srv.addr, PROBED_DOWN);
}

#[test]
fn link_fallback_follows_the_services_chain() {
    let srv = start(&["overrides-links.toml"]);
    run_table(srv.addr, LINKS_DOWN);
}

/// `weighted` picks by a hash of the client's /56: over 200 different /56s of one plan
/// (2001:db8:8000::/33, DE, no rule) hq (weight 3) gets about three quarters; every host
/// of one /56 gets the same site; every answer says scope 56.
#[test]
fn weighted_spreads_by_weight_and_is_stable_per_prefix() {
    let srv = start(&[]);
    let pick = |addr: String, prefix: u8| -> Vec<IpAddr> {
        let row = Row {
            name: WTS,
            qtype: AAAA,
            src: "127.0.0.1",
            ecs: Some((Box::leak(addr.into_boxed_str()), prefix)),
            want: OneOf(&[&[HQ_D6], &[DR_D6]]),
            ttl: 45,
            alt_ttl: None,
            scope: 56,
        };
        let resp = ask(Proto::Udp, srv.addr, &row, 7);
        check(&row, &resp).unwrap_or_else(|e| panic!("{row:?}: {e}"))
    };
    let mut hq = 0;
    for i in 0..200u32 {
        let first = pick(format!("2001:db8:8000:{:x}00::", i), 56);
        if first == [ip(HQ_D6)] {
            hq += 1;
        }
        if i % 10 == 0 {
            // another host, told with more precision, inside the same /56
            let again = pick(format!("2001:db8:8000:{:x}42::", i), 64);
            assert_eq!(first, again, "/56 number {i} is not stable");
        }
    }
    assert!(
        (120..=180).contains(&hq),
        "hq got {hq} of 200 (weights 3:1)"
    );
}

/// Other types at a service name are answered from the zone: data if the zone has it,
/// NODATA (never NXDOMAIN, never a wildcard's data) if not; all with scope 0.
#[test]
fn other_types_at_service_names_follow_the_zone() {
    let srv = start(&[]);
    let ecs = ecs_body(ip("203.0.113.0"), 24);
    // (name, type, rcode, answer text or None for an empty answer)
    #[rustfmt::skip]
    let cases: &[(&str, RecordType, ResponseCode, Option<&str>)] = &[
        (WWW, RecordType::TXT, ResponseCode::NoError, Some("www is a service")),
        (WWW, RecordType::MX,  ResponseCode::NoError, Some("10 mail.geo.test.")),
        (API, RecordType::TXT, ResponseCode::NoError, None),
        (API, RecordType::MX,  ResponseCode::NoError, None),
        (NEAR, RecordType::SRV, ResponseCode::NoError, None),
        (WTS, RecordType::TXT, ResponseCode::NoError, None), // not the wildcard's TXT
        ("x.wild.geo.test.", RecordType::TXT, ResponseCode::NoError, Some("wildcard")),
        ("nothing.geo.test.", RecordType::A, ResponseCode::NXDomain, None),
        ("nothing.geo.test.", RecordType::TXT, ResponseCode::NXDomain, None),
    ];
    for &(name, rtype, want_rcode, want_text) in cases {
        for proto in [Proto::Udp, Proto::Tcp] {
            let resp = exchange(
                proto,
                ip("127.1.0.1"),
                srv.addr,
                &query(3, name, rtype, Some(&ecs)),
            );
            let m = Message::from_vec(&resp).unwrap();
            let what = format!("{name} {rtype} over {proto:?}");
            assert_eq!(m.metadata.response_code, want_rcode, "{what}");
            assert!(m.metadata.authoritative, "{what}");
            match want_text {
                Some(text) => {
                    assert_eq!(m.answers.len(), 1, "{what}");
                    assert_eq!(
                        m.answers[0].data.to_string().trim_matches('"'),
                        text,
                        "{what}"
                    );
                    assert_eq!(m.answers[0].ttl, 3600, "{what}");
                }
                None => {
                    assert!(m.answers.is_empty(), "{what}: {:?}", m.answers);
                    assert!(
                        m.authorities
                            .iter()
                            .any(|r| matches!(r.data, RData::SOA(_))),
                        "{what}: no SOA"
                    );
                }
            }
            let mut echoed = ecs.clone();
            echoed[3] = 0;
            assert_eq!(ecs_options(&resp), [echoed], "{what}: ECS scope 0");
        }
    }
}

/// RFC 7871 section 6: malformed options get FORMERR, over UDP and over TCP.
#[test]
fn malformed_ecs_is_formerr() {
    let srv = start(&[]);
    #[rustfmt::skip]
    let bodies: &[(&str, Vec<u8>)] = &[
        ("address longer than the prefix needs", vec![0, 1, 20, 0, 192, 0, 32, 0]),
        ("address shorter than the prefix needs", vec![0, 1, 24, 0, 192, 0]),
        ("bits set beyond the prefix",           vec![0, 1, 22, 0, 198, 51, 101]),
        ("IPv6 bits set beyond the prefix",      vec![0, 2, 33, 0, 0x20, 0x01, 0x0d, 0xb8, 0x81]),
        ("family 3",                             vec![0, 3, 8, 0, 10]),
        ("family 0 with no address",             vec![0, 0, 0, 0]),
        ("prefix 33 for IPv4",                   vec![0, 1, 33, 0, 192, 0, 2, 5, 0]),
        ("prefix 129 for IPv6",                  vec![0, 2, 129, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("option shorter than its fixed part",   vec![0, 1, 0]),
    ];
    let mut cases: Vec<(String, Vec<u8>)> = bodies
        .iter()
        .map(|(what, body)| (what.to_string(), query(9, WWW, A, Some(body))))
        .collect();
    // An option whose length runs past the end of the OPT record: drop the last address
    // byte and shrink the record (RDLENGTH is the packet's last-but-option field).
    let body = ecs_body(ip("192.0.2.0"), 24);
    let mut cut = query(9, WWW, A, Some(&body));
    let rdlen_at = cut.len() - body.len() - 4 - 2; // RDLENGTH, option code + length, body
    assert_eq!(
        &cut[rdlen_at + 2..rdlen_at + 4],
        &[0, 8],
        "ECS is the only option"
    );
    cut.pop();
    let rdlen = u16::from_be_bytes([cut[rdlen_at], cut[rdlen_at + 1]]) - 1;
    cut[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    cases.push(("option runs past its record".into(), cut));
    for (what, q) in &cases {
        for proto in [Proto::Udp, Proto::Tcp] {
            let resp = exchange(proto, ip("127.0.0.1"), srv.addr, q);
            assert_eq!(&resp[..2], &q[..2], "{what} over {proto:?}: ID");
            assert_eq!(resp[2] & 0x80, 0x80, "{what} over {proto:?}: QR");
            assert_eq!(rcode(&resp), 1, "{what} over {proto:?}: FORMERR expected");
        }
    }
    // And a well-formed option right after still gets its answer.
    let row = e(WWW, A, "192.0.2.0", 24, Is(&[DR_D4]), 30, 26);
    check(&row, &ask(Proto::Udp, srv.addr, &row, 10)).unwrap();
}

// ---------------------------------------------------------------------------------------
// The binary, listening on IPv4 and IPv6 at once

struct Child(std::process::Child, tempfile::TempDir);

impl Drop for Child {
    fn drop(&mut self) {
        if let Err(e) = self.0.kill() {
            eprintln!("killing meridian: {e}");
        }
        if let Err(e) = self.0.wait() {
            eprintln!("waiting for meridian: {e}");
        }
    }
}

/// `meridian serve` on 127.0.0.1:P and [::1]:P (the same port), from a copy of geo.toml
/// in a temporary folder that links to the fixture's databases, lists and zones.
fn spawn_dual_stack() -> (Child, u16) {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    for entry in ["zones", "city.csv", "asn.csv", "isp"] {
        std::os::unix::fs::symlink(data.join(entry), dir.path().join(entry)).unwrap();
    }
    let port = dnsclient::free_port(&[ip("127.0.0.1"), ip("::1")]);
    let text = std::fs::read_to_string(data.join("geo.toml")).unwrap();
    let listen = format!("listen = [\"127.0.0.1:{port}\", \"[::1]:{port}\"]");
    let replaced = text.replace("listen = [\"127.0.0.1:0\"]", &listen);
    assert_ne!(replaced, text, "geo.toml has no listen line to replace");
    let path = dir.path().join("geo.toml");
    std::fs::write(&path, replaced).unwrap();
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (Child(child, dir), port)
}

/// Waits until `server` answers a query over UDP (at most 10 s).
fn wait_ready(child: &mut Child, server: SocketAddr, src: IpAddr) {
    let sock = std::net::UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let q = query(1, "static.geo.test.", A, None);
    let start = std::time::Instant::now();
    let mut buf = [0u8; 1500];
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(status) = child.0.try_wait().unwrap() {
            let log =
                std::fs::read_to_string(child.1.path().join("stderr.log")).unwrap_or_default();
            panic!("meridian exited with {status}:\n{log}");
        }
        sock.send_to(&q, server).unwrap();
        if sock.recv_from(&mut buf).is_ok() {
            return;
        }
    }
    let log = std::fs::read_to_string(child.1.path().join("stderr.log")).unwrap_or_default();
    panic!("meridian did not answer on {server} within 10 s:\n{log}");
}

#[test]
fn serves_ipv4_and_ipv6_listen_addresses_at_once() {
    let (mut child, port) = spawn_dual_stack();
    let v4 = SocketAddr::new(ip("127.0.0.1"), port);
    let v6 = SocketAddr::new(ip("::1"), port);
    wait_ready(&mut child, v4, ip("127.0.0.1"));
    wait_ready(&mut child, v6, ip("::1"));
    #[rustfmt::skip]
    let v4_rows = [
        e(WWW, A,    "198.51.100.0", 24, Is(&[HQ_T]), 30, 25),
        e(WWW, AAAA, "2001:db8:3::", 48, Is(&[SYD]),  30, 48),
        s(WWW, A,    "127.4.0.1", Is(&[DR_D4]), 30),
        s(NEAR, AAAA, "127.5.0.1", Is(&[SYD]), 60),
        e("static.geo.test.", AAAA, "192.0.2.0", 24, Is(&["2001:db8::80"]), 3600, 0),
    ];
    #[rustfmt::skip]
    let v6_rows = [
        se(WWW, A,    "::1", "198.51.100.0", 24, Is(&[HQ_T]), 30, 25),
        se(WWW, AAAA, "::1", "2001:db8:3::", 48, Is(&[SYD]),  30, 48),
        se(API, A,    "::1", "203.0.113.0",  26, Is(&[DR_D4]), 20, 26),
        s(WWW, A,     "::1", Is(&[HQ_D4]), 30), // ::1 is in no database: default plan
        s(WWW, AAAA,  "::1", Is(&[HQ_D6]), 30),
        se("static.geo.test.", A, "::1", "2001:db8::", 32, Is(&["192.0.2.80"]), 3600, 0),
    ];
    run_table(v4, &v4_rows);
    run_table(v6, &v6_rows);
}
