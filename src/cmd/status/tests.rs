//! The status tables from a status document as the server writes it.

use serde_json::json;

use super::*;

fn doc() -> Value {
    json!({
        "config": "/etc/meridian/meridian.toml", "generation": 3, "digest": "00112233aabbccdd",
        "loaded_ms_ago": 130_000,
        "zones": [{"zone": "example.test.", "names": 12}],
        "sites": [
            {"site": "dr", "state": "up", "links": [{"link": "default", "state": "up",
                "addresses": [{"address": "192.0.2.20", "state": "up"}]}]},
            {"site": "hq", "state": "down", "links": [{"link": "default", "state": "down",
                "addresses": [{"address": "203.0.113.11", "state": "down"}]}]},
        ],
        "targets": [
            {"site": "hq", "link": "default", "address": "203.0.113.11", "state": "down",
             "source": "probe", "reason": "tcp: connect refused",
             "probes": [{"check": "tcp 203.0.113.11:80 1", "last_probe_ms_ago": 400, "next_probe_in_ms": 600}]},
            {"site": "dr", "link": "default", "address": "192.0.2.20", "state": "up",
             "source": "site override", "reason": "site:dr forced up by ops: test", "probes": []},
        ],
        "services": [{"service": "www", "name": "www.example.test.", "mode": "failover",
            "sites": "hq dr", "ttl": 30, "plans": 2, "answers": [
                {"routes": ["default", "country CN"], "mode": "failover", "sites": ["hq", "dr"],
                 "isp": null, "client": "0.0.0.0", "a": ["192.0.2.20"], "aaaa": [],
                 "ttl": 10, "why": "failover: the first site is not usable", "fallback": false},
            ]}],
        "overrides": [{"target": "site:dr", "state": "up", "source": "runtime", "author": "ops",
            "reason": "test", "set_at_ms": 0, "expires_ms": null, "origin": ""}],
        "lvs": {"services": [{"service": "TCP 203.0.113.10:80", "up": true,
            "load": {"active_conns": 7, "healthy_weight": 100, "total_weight": 200},
            "stats": {"cps": 3, "inbps": 900},
            "reals": [{"addr": "10.0.0.2:80", "state": "up", "weight": 100, "configured_weight": 100,
                "active_conns": 7, "inactive_conns": 2, "stats": {"cps": 3, "inbps": 900}}]}]},
        "cluster": {"node": "hq-ns1", "role": "director", "digest": "00112233aabbccdd",
            "peers": [{"node": "dr-ns1", "liveness": "alive", "last_heard_ms": 800,
                "role": "dns", "digest": "ffff", "divergent": true}]},
        "anycast": null,
    })
}

#[test]
fn every_section_is_a_readable_table() {
    let t = text(&doc());
    assert!(
        t.starts_with("config /etc/meridian/meridian.toml  generation 3  digest 00112233aabbccdd  loaded 2m10s ago\n"),
        "{t}"
    );
    assert!(t.contains("zones: example.test. (12 names)"), "{t}");
    let row = t
        .lines()
        .find(|l| l.contains("203.0.113.11"))
        .unwrap_or_else(|| panic!("{t}"));
    for cell in [
        "hq (down)",
        "default (down)",
        "down",
        "probe",
        "400ms ago",
        "in 600ms",
        "tcp: connect refused",
    ] {
        assert!(row.contains(cell), "{cell} missing in {row}");
    }
    // Columns line up: the address column starts at the same place on every row.
    let col = |l: &str, needle: &str| l.find(needle);
    let header = t.lines().find(|l| l.starts_with("SITE")).unwrap();
    let dr = t
        .lines()
        .find(|l| l.contains("192.0.2.20") && l.starts_with("dr"))
        .unwrap();
    assert_eq!(col(header, "ADDRESS"), col(row, "203.0.113.11"));
    assert_eq!(col(header, "ADDRESS"), col(dr, "192.0.2.20"));
    let svc = t
        .lines()
        .find(|l| l.starts_with("www.example.test."))
        .unwrap();
    for cell in [
        "failover",
        "default | country CN",
        "hq dr",
        "192.0.2.20",
        "10",
        "failover: the first",
    ] {
        assert!(svc.contains(cell), "{cell} missing in {svc}");
    }
    assert!(t.contains("... 1 more plans (--json)"), "{t}");
    assert!(t.contains("site:dr") && t.contains("set by ops"), "{t}");
    let real = t.lines().find(|l| l.contains("-> 10.0.0.2:80")).unwrap();
    assert!(
        real.contains("100/100") && real.contains(" 7 ") && real.contains(" 2 "),
        "{real}"
    );
    assert!(t.contains("cluster: this node hq-ns1 (director)"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("dr-ns1") && l.contains("DIFFERS")),
        "{t}"
    );
    assert!(t.ends_with("anycast: not configured\n"), "{t}");
}

#[test]
fn durations_are_short() {
    assert_eq!(short(450), "450ms");
    assert_eq!(short(2_500), "2.5s");
    assert_eq!(short(200_000), "3m20s");
    assert_eq!(short(18_600_000), "5h10m");
    assert_eq!(short(2 * 86_400_000 + 3_600_000), "2d1h");
}
