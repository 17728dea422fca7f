//! The per-client answer path (service names with ECS) as the benchmarks drive it: answers
//! depend on the ECS subnet, the ECS scope is echoed, and answering allocates nothing once a
//! thread has answered its first service query.

use std::net::{IpAddr, SocketAddr};

const ZONE: &str = "$ORIGIN example.test.
$TTL 3600
@   IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300
    IN NS  ns1
ns1 IN A   192.0.2.53
";

const CITY: &str = "20.0.0.0/16,AS,CN,BJ,39.9,116.4
20.1.0.0/16,EU,DE,HE,50.1,8.7
20.2.0.0/18,OC,AU,NSW,-33.9,151.2
20.2.64.0/18,NA,US,CA,37.4,-122.1
";

const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:0"]
zones = ["example.test.zone"]
[geo]
city = "city.csv"
[site.hq]
links = { default = ["192.0.2.10"] }
[site.dr]
links = { default = ["192.0.2.20"] }
[site.ap]
links = { default = ["192.0.2.30"] }
[service.www]
name = "www.example.test"
ttl = 30
sites = ["hq", "dr"]
mode = "failover"
[[service.www.route]]
match = { continent = ["AS", "OC"] }
sites = ["ap", "hq"]
[[service.www.route]]
match = { continent = ["EU", "NA"] }
sites = ["dr", "hq"]
"#;

/// An A query for www.example.test with ECS for `net`/`len` (address cut to the prefix).
fn query(id: u16, net: [u8; 4], len: u8) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    q.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    let n = usize::from(len).div_ceil(8);
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    q.extend_from_slice(&(8 + n as u16).to_be_bytes());
    q.extend_from_slice(&[0, 8]);
    q.extend_from_slice(&(4 + n as u16).to_be_bytes());
    q.extend_from_slice(&[0, 1, len, 0]);
    q.extend_from_slice(&net[..n]);
    q
}

/// (rcode, the one A record's address, ECS scope) of a reply to `query`.
fn read(resp: &[u8]) -> (u8, Option<IpAddr>, Option<u8>) {
    let rcode = resp[3] & 0x0F;
    let ancount = u16::from_be_bytes([resp[6], resp[7]]);
    // Question: 12 + name (18) + 4; the answer's owner is a 2-byte pointer.
    let mut p = 12 + 18 + 4;
    let mut addr = None;
    if ancount == 1 {
        assert_eq!(
            &resp[p..p + 2],
            &[0xC0, 0x0C],
            "owner points at the question"
        );
        let rd = &resp[p + 12..p + 16];
        addr = Some(IpAddr::from([rd[0], rd[1], rd[2], rd[3]]));
        p += 16;
    }
    // The OPT record comes last: root owner, type 41, ..., ECS option with the scope.
    let scope = (resp.len() > p + 11 && resp[p + 1..p + 3] == [0, 41]).then(|| resp[p + 11 + 7]);
    (rcode, addr, scope)
}

#[test]
fn service_answers_follow_the_subnet_and_do_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("example.test.zone"), ZONE).unwrap();
    std::fs::write(dir.path().join("city.csv"), CITY).unwrap();
    let cfg_path = dir.path().join("meridian.toml");
    std::fs::write(&cfg_path, CONFIG).unwrap();
    let cfg = meridian::config::load(&cfg_path).unwrap();
    let (snap, errors) = meridian::serve::build_snapshot(&cfg, None, None).unwrap();
    assert!(errors.is_empty());
    let source: SocketAddr = "127.0.0.1:5353".parse().unwrap();

    // (ECS /24, first address, scope: the widest prefix with the same plan)
    let cases: [([u8; 4], &str, u8); 5] = [
        ([20, 0, 9, 0], "192.0.2.30", 16),  // AS: ap first; 20.0.0.0/16
        ([20, 1, 9, 0], "192.0.2.20", 16),  // EU: dr first; 20.1.0.0/16
        ([20, 2, 9, 0], "192.0.2.30", 18),  // OC: ap first; 20.2.0.0/18
        ([20, 2, 99, 0], "192.0.2.20", 18), // NA: dr first; 20.2.64.0/18
        ([9, 9, 9, 0], "192.0.2.10", 4),    // not in the database: hq; 0.0.0.0/4
    ];
    let udp = meridian::dns::Transport::Udp;
    let mut out = Vec::with_capacity(65536);
    // The first service answer on a thread sets up its scratch space.
    meridian::dns::answer(&snap, &query(1, [20, 0, 0, 0], 24), source, udp, &mut out);
    for (i, (net, want, want_scope)) in cases.iter().enumerate() {
        meridian::dns::answer(&snap, &query(i as u16, *net, 24), source, udp, &mut out);
        let (rcode, addr, scope) = read(&out);
        assert_eq!(rcode, 0);
        assert_eq!(addr, Some(want.parse().unwrap()), "{net:?}");
        assert_eq!(scope, Some(*want_scope), "{net:?}");
    }

    use alloc_counter::{COUNT, COUNTING};
    let queries: Vec<Vec<u8>> = (0..2000u16)
        .map(|k| query(k, [20, (k % 3) as u8, (k >> 2) as u8, 0], 24))
        .collect();
    let ap = "meridian_dns_service_answers_total{service=\"www\",site=\"ap\",link=\"default\"}";
    let ap_before = metric(ap);
    COUNTING.with(|c| c.set(true));
    for q in &queries {
        let o = meridian::dns::answer(&snap, q, source, udp, &mut out);
        // Counting it into the metrics (query type, RCODE, ECS) allocates nothing either.
        meridian::dns::observe::record(&o, udp, source, q, true, false);
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        COUNT.with(|c| c.get()),
        0,
        "allocations while answering service queries"
    );
    // 20.0.x.x and 20.2.0-63.x are steered to ap (the third octet is (k >> 2) as u8).
    let to_ap = (0..2000u16)
        .filter(|k| k % 3 == 0 || (k % 3 == 2 && ((k >> 2) as u8) < 64))
        .count() as u64;
    assert_eq!(metric(ap) - ap_before, to_ap);

    // The UDP shell's extra steps: a COOKIE option checked and answered, each answer passed
    // through the rate limiter, and the slipped reply (BADCOOKIE here) written.
    let mut snap = snap;
    snap.cookie_secret = Some(meridian::dns::cookie::CookieSecret::from_bytes([7; 16]));
    let settings = meridian::config::RrlSettings {
        rate: 100,
        ..Default::default()
    };
    let limit = meridian::dns::rrl::Limit::new(&settings, 1).unwrap();
    let mut table = meridian::dns::rrl::Table::new([3; 16]);
    let with_cookie: Vec<Vec<u8>> = queries
        .iter()
        .map(|q| {
            let mut q = q.clone();
            // Grow the OPT's RDLENGTH and append a client cookie.
            let at = q.len() - (8 + 3) - 2;
            let rdlen = u16::from_be_bytes([q[at], q[at + 1]]) + 12;
            q[at..at + 2].copy_from_slice(&rdlen.to_be_bytes());
            q.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
            q
        })
        .collect();
    let (mut slipped, mut cookies) = (0, 0);
    COUNTING.with(|c| c.set(true));
    for (k, q) in with_cookie.iter().enumerate() {
        let o = meridian::dns::answer::answer_at(&snap, q, source, udp, 1_700_000_000, &mut out);
        cookies += usize::from(o.cookie.is_some());
        let class = meridian::dns::rrl::Class::of(&o);
        if table.check(source.ip(), class, k as u64, &limit) != meridian::dns::rrl::Decision::Send {
            meridian::dns::answer::limited_reply(
                &snap,
                q,
                source,
                1_700_000_000,
                o.rcode,
                &mut out,
            );
            slipped += 1;
        }
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(cookies, with_cookie.len());
    assert!(slipped > 1000, "{slipped}");
    assert_eq!(
        COUNT.with(|c| c.get()),
        0,
        "allocations on the cookie and rate-limiting path"
    );
}

/// The value of one series in this process's metrics (0 when absent).
fn metric(series: &str) -> u64 {
    meridian::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Counts heap allocations made on the current thread while `COUNTING` is set.
#[path = "support/alloc_counter.rs"]
mod alloc_counter;

#[global_allocator]
static ALLOC: alloc_counter::Counting = alloc_counter::Counting;
