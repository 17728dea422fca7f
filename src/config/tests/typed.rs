//! Enum-like values are parsed at load: a typo names file, line, column and key and lists
//! what is accepted; keys that would do nothing are refused.

use super::*;

/// Lines 1..=7; each case's text follows from line 8.
const BASE: &str = r#"[server]
zones = "../zones"
[site.hq]
links = { default = ["192.0.2.1"] }
[service.www]
name = "www.example.test"
sites = ["hq"]
"#;

const LVS: &str = "[lvs]\n[[lvs.service]]\nvip = \"203.0.113.10:80\"\n";

/// The one error that `extra` (appended to [`BASE`]) causes: it must sit on the line and
/// column where `needle` starts, name `key`, and its message must contain every `want`.
fn refused_at(extra: &str, needle: &str, key: &str, want: &[&str]) {
    let text = format!("{BASE}{extra}");
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in {text}"));
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    let d = errors(&text);
    assert_eq!(d.len(), 1, "{text}\n{d:#?}");
    let d = &d[0];
    assert_eq!(
        (d.line, d.column, d.key.as_str()),
        (line, column, key),
        "{d}"
    );
    for w in want {
        assert!(d.message.contains(w), "{d} lacks {w}");
    }
    assert!(
        d.to_string()
            .starts_with(&format!("{}:{line}:{column}: {key}: ", example().display())),
        "{d}"
    );
}

fn accepted(extra: &str) -> Config {
    let text = format!("{BASE}{extra}");
    parse(&text, &example()).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

#[test]
fn typos_in_check_values_name_line_column_and_key() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "check = { type = \"tpc\", port = 80 }\n",
            "\"tpc\"",
            "service.www.check.type",
            &["tcp, http, https, dns, exec"],
        ),
        (
            "check = { type = \"http\", method = \"GETT\" }\n",
            "\"GETT\"",
            "service.www.check.method",
            &["`GETT`", "GET, HEAD, POST, OPTIONS"],
        ),
        (
            "check = { type = \"dns\", query = \"www.example.test\", qtype = \"AAA\" }\n",
            "\"AAA\"",
            "service.www.check.qtype",
            &["`AAA`", "AAAA", "SRV", "ANY", "TYPEnnn"],
        ),
        (
            "check = { type = \"dns\", query = \"www.example.test\", qtype = \"TYPE0\" }\n",
            "\"TYPE0\"",
            "service.www.check.qtype",
            &["reserved"],
        ),
        (
            "check = { type = \"dns\", query = \"www.example.test\", rcode = \"NXDOMIAN\" }\n",
            "\"NXDOMIAN\"",
            "service.www.check.rcode",
            &[
                "`NXDOMIAN`",
                "NOERROR",
                "NXDOMAIN",
                "SERVFAIL",
                "REFUSED",
                "0..=15",
            ],
        ),
        (
            "check = { type = \"dns\", query = \"www.example.test\", rcode = \"16\" }\n",
            "\"16\"",
            "service.www.check.rcode",
            &["0..=15"],
        ),
        (
            "check = { type = \"tcp\", port = 80, start = \"upp\" }\n",
            "\"upp\"",
            "service.www.check.start",
            &["up, down"],
        ),
    ];
    for (extra, needle, key, want) in cases {
        refused_at(extra, needle, key, want);
    }
}

#[test]
fn typos_in_service_and_override_values_name_line_column_and_key() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "mode = \"failvoer\"\n",
            "\"failvoer\"",
            "service.www.mode",
            &["failover, all, weighted, nearest"],
        ),
        (
            "fallback = \"nada\"\n",
            "\"nada\"",
            "service.www.fallback",
            &["all, none"],
        ),
        (
            "[[service.www.route]]\nmatch = { country = [\"CN\"] }\nsites = [\"hq\"]\nmode = \"nerest\"\n",
            "\"nerest\"",
            "service.www.route[0].mode",
            &["nearest"],
        ),
        (
            "[[override]]\ntarget = \"site:hq\"\nstate = \"dwn\"\n",
            "\"dwn\"",
            "override[0].state",
            &["up, down, drain"],
        ),
    ];
    for (extra, needle, key, want) in cases {
        refused_at(extra, needle, key, want);
    }
}

#[test]
fn typos_in_lvs_values_name_line_column_and_key() {
    let cases: &[(String, &str, &str, &[&str])] = &[
        (
            format!("{LVS}scheduler = \"fastest\"\n"),
            "\"fastest\"",
            "lvs.service[0].scheduler",
            &[
                "`fastest`",
                "rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos",
            ],
        ),
        (
            format!("{LVS}scheduler = \"WLC\"\n"),
            "\"WLC\"",
            "lvs.service[0].scheduler",
            &["wlc"],
        ),
        (
            format!("{LVS}scheduler = \"sh\"\nflags = [\"one-packet\", \"sh-prot\"]\n"),
            "\"sh-prot\"",
            "lvs.service[0].flags[1]",
            &[
                "`sh-prot`",
                "one-packet, sh-fallback, sh-port, mh-fallback, mh-port",
            ],
        ),
        (
            format!("{LVS}forward = \"magic\"\n"),
            "\"magic\"",
            "lvs.service[0].forward",
            &["dr, nat, tun"],
        ),
        (
            format!("{LVS}protocol = \"tpc\"\n"),
            "\"tpc\"",
            "lvs.service[0].protocol",
            &["tcp, udp, sctp"],
        ),
        (
            format!("{LVS}on_failure = \"drop\"\n"),
            "\"drop\"",
            "lvs.service[0].on_failure",
            &["weight0, remove"],
        ),
        (
            "[lvs]\n[[lvs.service]]\nfwmark = 7\nfamily = \"ipv5\"\n".to_string(),
            "\"ipv5\"",
            "lvs.service[0].family",
            &["ipv4, ipv6"],
        ),
        (
            format!("{LVS}[[lvs.service.real]]\naddr = \"10.0.0.1:80\"\nforward = \"nat2\"\n"),
            "\"nat2\"",
            "lvs.service[0].real[0].forward",
            &["dr, nat, tun"],
        ),
        (
            format!("{LVS}check = {{ type = \"dns\", query = \"x.test\", rcode = \"NOPE\" }}\n"),
            "\"NOPE\"",
            "lvs.service[0].check.rcode",
            &["NXDOMAIN"],
        ),
    ];
    for (extra, needle, key, want) in cases {
        refused_at(extra, needle, key, want);
    }
}

#[test]
fn every_typo_in_a_file_is_reported_at_once() {
    let text = format!(
        "{BASE}check = {{ type = \"dns\", query = \"www.example.test\", qtype = \"AAA\", rcode = \"NXDOMIAN\" }}\n\
         [service.api]\nname = \"api.example.test\"\nsites = [\"hq\"]\n\
         check = {{ type = \"http\", method = \"PUT\" }}\n\
         {LVS}scheduler = \"fastest\"\nflags = [\"ops\"]\n"
    );
    let d = errors(&text);
    let found: Vec<(usize, &str)> = d.iter().map(|x| (x.line, x.key.as_str())).collect();
    assert_eq!(
        found,
        [
            (12, "service.api.check.method"),
            (8, "service.www.check.qtype"),
            (8, "service.www.check.rcode"),
            (16, "lvs.service[0].scheduler"),
            (17, "lvs.service[0].flags[0]"),
        ],
        "{d:#?}"
    );
}

#[test]
fn accepted_spellings_become_typed_values() {
    let cfg = accepted(
        "check = { type = \"dns\", query = \"www.example.test\", qtype = \"aaaa\", rcode = \"servfail\" }\n\
         [service.api]\nname = \"api.example.test\"\nsites = [\"hq\"]\n\
         check = { type = \"https\", method = \"head\", tls_verify = false }\n\
         [service.mx]\nname = \"mx.example.test\"\nsites = [\"hq\"]\n\
         check = { type = \"dns\", query = \"example.test\", qtype = \"TYPE65280\", rcode = \"5\" }\n",
    );
    let kind = |s: &str| cfg.services[s].check.as_ref().map(|c| c.kind.clone());
    let Some(CheckKind::Dns { qtype, rcode, .. }) = kind("www") else {
        panic!("www: {:?}", kind("www"));
    };
    assert_eq!((qtype.code(), qtype.to_string().as_str()), (28, "AAAA"));
    assert_eq!((rcode.code(), rcode.to_string().as_str()), (2, "SERVFAIL"));
    let Some(CheckKind::Http { method, .. }) = kind("api") else {
        panic!("api: {:?}", kind("api"));
    };
    assert_eq!(method, HttpMethod::Head);
    let Some(CheckKind::Dns { qtype, rcode, .. }) = kind("mx") else {
        panic!("mx: {:?}", kind("mx"));
    };
    assert_eq!(
        (qtype.code(), rcode.to_string().as_str()),
        (65280, "REFUSED")
    );

    let cfg = accepted(&format!(
        "{LVS}scheduler = \"mh\"\nflags = [\"mh-port\", \"one-packet\"]\n"
    ));
    let svc = &cfg.lvs.as_ref().map(|l| l.services[0].clone());
    let svc = svc.as_ref().unwrap();
    assert_eq!(svc.scheduler, Scheduler::Mh);
    assert_eq!(svc.scheduler.as_str(), "mh");
    assert_eq!(svc.flags, [LvsFlag::MhPort, LvsFlag::OnePacket]);
    let cfg = accepted(LVS);
    assert_eq!(
        cfg.lvs.unwrap().services[0].scheduler,
        Scheduler::Wlc,
        "the default scheduler"
    );
}

#[test]
fn server_metrics_is_refused_with_a_pointer_to_the_admin_endpoint() {
    for value in ["\"127.0.0.1:9100\"", "true"] {
        let text = format!("[server]\nzones = \"../zones\"\nmetrics = {value}\n");
        let d = errors(&text);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!((d[0].line, d[0].column), (3, 11), "{}", d[0]);
        assert_eq!(d[0].key, "server.metrics");
        assert!(
            d[0].message.contains("/metrics") && d[0].message.contains("admin"),
            "{}",
            d[0]
        );
    }
}

#[test]
fn check_keys_of_another_check_type_are_refused() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "check = { type = \"tcp\", port = 80, qtype = \"A\" }\n",
            "\"A\"",
            "service.www.check.qtype",
            &["applies only to dns checks", "type = \"tcp\""],
        ),
        (
            "check = { type = \"http\", tls_verify = false }\n",
            "false",
            "service.www.check.tls_verify",
            &["applies only to https checks"],
        ),
        (
            "check = { type = \"dns\", query = \"www.example.test\", path = \"/x\" }\n",
            "\"/x\"",
            "service.www.check.path",
            &["applies only to http and https checks"],
        ),
        (
            "check = { type = \"exec\", command = [\"true\"], expect = 200 }\n",
            "200",
            "service.www.check.expect",
            &["http and https"],
        ),
        (
            "check = { type = \"https\", command = [\"true\"] }\n",
            "[\"true\"]",
            "service.www.check.command",
            &["applies only to exec checks"],
        ),
    ];
    for (extra, needle, key, want) in cases {
        refused_at(extra, needle, key, want);
    }
}

#[test]
fn lvs_keys_that_would_do_nothing_are_refused() {
    let cases: &[(String, &str, &str, &[&str])] = &[
        (
            format!("{LVS}flags = [\"sh-port\"]\n"),
            "\"sh-port\"",
            "lvs.service[0].flags[0]",
            &["scheduler = \"sh\"", "\"wlc\""],
        ),
        (
            format!("{LVS}scheduler = \"sh\"\nflags = [\"mh-fallback\"]\n"),
            "\"mh-fallback\"",
            "lvs.service[0].flags[0]",
            &["scheduler = \"mh\""],
        ),
        (
            format!("{LVS}flags = [\"one-packet\", \"one-packet\"]\n"),
            "\"one-packet\"]",
            "lvs.service[0].flags[1]",
            &["twice"],
        ),
        (
            format!("{LVS}family = \"ipv6\"\n"),
            "\"ipv6\"",
            "lvs.service[0].family",
            &["only to fwmark services"],
        ),
        (
            "[lvs]\n[[lvs.service]]\nfwmark = 7\nprotocol = \"udp\"\n".to_string(),
            "\"udp\"",
            "lvs.service[0].protocol",
            &["only to vip services"],
        ),
        (
            format!("{LVS}netmask = \"255.255.255.0\"\n"),
            "\"255.255.255.0\"",
            "lvs.service[0].netmask",
            &["persistence"],
        ),
        (
            format!("{LVS}persistence = \"60s\"\nnetmask = \"24\"\n"),
            "\"24\"",
            "lvs.service[0].netmask",
            &["not an IPv4 netmask"],
        ),
        (
            "[lvs]\n[[lvs.service]]\nvip = \"[2001:db8::1]:80\"\npersistence = \"60s\"\nnetmask = \"255.255.255.0\"\n"
                .to_string(),
            "\"255.255.255.0\"",
            "lvs.service[0].netmask",
            &["not an IPv6 prefix length"],
        ),
    ];
    for (extra, needle, key, want) in cases {
        refused_at(extra, needle, key, want);
    }
}

#[test]
fn weights_need_a_weighted_mode_somewhere() {
    refused_at(
        "weights = { hq = 2 }\n",
        "hq = 2",
        "service.www.weights",
        &["mode = \"weighted\""],
    );
    let cfg = accepted(
        "weights = { hq = 2 }\n[[service.www.route]]\nmatch = { country = [\"CN\"] }\nsites = [\"hq\"]\nmode = \"weighted\"\n",
    );
    assert_eq!(cfg.services["www"].weights["hq"], 2);
    // A misspelt mode has its own error only.
    refused_at(
        "mode = \"weigthed\"\nweights = { hq = 2 }\n",
        "\"weigthed\"",
        "service.www.mode",
        &["weighted"],
    );
}

#[test]
fn spill_at_needs_capacity_and_a_lower_resume() {
    let cases: &[(String, &str, &str, &[&str])] = &[
        (
            format!("{LVS}spill_at = 90\n"),
            "90",
            "lvs.service[0].spill_at",
            &["capacity"],
        ),
        (
            format!("{LVS}capacity = 100\nspill_at = 90\nspill_resume = 95\n"),
            "95",
            "lvs.service[0].spill_resume",
            &["below `spill_at` (90)"],
        ),
        (
            format!("{LVS}capacity = 100\nspill_resume = 50\n"),
            "50",
            "lvs.service[0].spill_resume",
            &["needs `spill_at`"],
        ),
        (
            format!("{LVS}capacity = 100\nspill_at = 1001\n"),
            "1001",
            "lvs.service[0].spill_at",
            &["out of range 1..=1000"],
        ),
    ];
    for (extra, needle, key, want) in cases {
        refused_at(extra, needle, key, want);
    }
    let c = accepted(&format!("{LVS}capacity = 100\nspill_at = 90\n"));
    let spill = c.lvs.as_ref().and_then(|l| l.services[0].spill);
    assert_eq!(spill, Some(crate::config::SpillAt { at: 90, resume: 80 }));
}
