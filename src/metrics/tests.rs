use std::str::FromStr;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::registry::Registry;

use super::*;

fn encode(r: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, r).unwrap();
    out
}

fn alone(c: impl Collector) -> String {
    let mut r = Registry::with_prefix("meridian");
    r.register_collector(Box::new(c));
    encode(&r)
}

#[test]
fn every_qtype_label_names_its_type() {
    for (i, name) in QTYPES.iter().enumerate() {
        if *name == "other" {
            assert_eq!(i, QTYPES.len() - 1);
            continue;
        }
        let t = hickory_proto::rr::RecordType::from_str(name).unwrap();
        assert_eq!(qtype_index(u16::from(t)), i, "{name}");
    }
    assert_eq!(QTYPES[qtype_index(99)], "other");
    assert_eq!(QTYPES[qtype_index(0)], "other");
    assert_eq!(QTYPES[qtype_index(256)], "other");
    assert_eq!(QTYPES[qtype_index(u16::MAX)], "other");
}

#[test]
fn dns_counters_render_by_transport_qtype_and_rcode() {
    let c: &'static DnsCounters = Box::leak(Box::new(DnsCounters::new()));
    c.query(UDP, 1, Some(3));
    c.query(UDP, 1, None);
    c.query(TCP, 28, Some(0));
    c.query(TCP, 4242, None);
    c.query(UDP, 16, Some(23));
    c.query(UDP, 16, Some(16));
    if let Some(h) = c.latency(UDP) {
        h.observe_n(3_000, 4);
    }
    let text = alone(dns::DnsCollector(c));
    for line in [
        "# TYPE meridian_dns_queries_total counter\n",
        "meridian_dns_queries_total{transport=\"udp\",qtype=\"A\"} 2\n",
        "meridian_dns_queries_total{transport=\"tcp\",qtype=\"AAAA\"} 1\n",
        "meridian_dns_queries_total{transport=\"tcp\",qtype=\"other\"} 1\n",
        "meridian_dns_queries_total{transport=\"udp\",qtype=\"TXT\"} 2\n",
        "meridian_dns_responses_total{transport=\"udp\",qtype=\"A\",rcode=\"NXDOMAIN\"} 1\n",
        "meridian_dns_responses_total{transport=\"tcp\",qtype=\"AAAA\",rcode=\"NOERROR\"} 1\n",
        "meridian_dns_responses_total{transport=\"udp\",qtype=\"TXT\",rcode=\"BADCOOKIE\"} 1\n",
        "meridian_dns_responses_total{transport=\"udp\",qtype=\"TXT\",rcode=\"BADVERS\"} 1\n",
        "# TYPE meridian_dns_answer_duration_seconds histogram\n",
        "meridian_dns_answer_duration_seconds_bucket{transport=\"udp\",le=\"2.5e-06\"} 0\n",
        "meridian_dns_answer_duration_seconds_bucket{transport=\"udp\",le=\"5e-06\"} 4\n",
        "meridian_dns_answer_duration_seconds_bucket{transport=\"udp\",le=\"+Inf\"} 4\n",
        "meridian_dns_answer_duration_seconds_count{transport=\"udp\"} 4\n",
        "meridian_dns_answer_duration_seconds_count{transport=\"tcp\"} 0\n",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // Zero series are left out.
    assert!(!text.contains("qtype=\"MX\""), "{text}");
    assert_eq!(c.queries(UDP, 1), 2);
    assert_eq!(c.responses(UDP, 16, 23), 1);
}

#[test]
fn latency_sums_and_overflows() {
    let h = Latency::new();
    h.observe_n(500, 1);
    h.observe_n(1_000, 1);
    h.observe_n(2_000_000_000, 2);
    assert_eq!(h.count(), 4);
    let c: &'static DnsCounters = Box::leak(Box::new(DnsCounters::new()));
    if let Some(l) = c.latency(TCP) {
        l.observe_n(2_000_000_000, 1);
    }
    let text = alone(dns::DnsCollector(c));
    assert!(
        text.contains(
            "meridian_dns_answer_duration_seconds_bucket{transport=\"tcp\",le=\"0.1\"} 0\n"
        ),
        "{text}"
    );
    assert!(text.contains("meridian_dns_answer_duration_seconds_sum{transport=\"tcp\"} 2"));
}

#[test]
fn unlabelled_counters_and_gauges_render_with_their_types() {
    let m: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    inc(&m.ecs_queries);
    m.config_generation
        .store(7, std::sync::atomic::Ordering::Relaxed);
    let text = alone(counters::CountersCollector(m));
    assert!(
        text.contains(
            "# TYPE meridian_dns_ecs_queries_total counter\nmeridian_dns_ecs_queries_total 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("# TYPE meridian_config_generation gauge\nmeridian_config_generation 7\n")
    );
    assert!(text.contains("meridian_cluster_packets_rejected_total 0\n"));
    assert!(text.contains("# TYPE meridian_cluster_bytes_sent_total counter\n"));
    assert!(text.contains("# TYPE meridian_anycast_withdrawals_total counter\n"));
    assert!(text.contains(
        "# TYPE meridian_dns_udp_thread_restarts_total counter\nmeridian_dns_udp_thread_restarts_total 0\n"
    ));
    assert_eq!(text.matches("# TYPE").count(), 28);
}

#[test]
fn answer_counters_count_by_index_keep_counts_and_prune() {
    // Families of its own: other tests compile policies into the process's families.
    let fams = AnswerFamilies::default();
    let mut r = Registry::with_prefix("meridian");
    r.register("dns_service_answers", "", fams.answers.clone());
    r.register("dns_service_fallbacks", "", fams.fallbacks.clone());
    let path = |service, service_name, site_name, link, link_name| AnswerPath {
        service,
        service_name,
        site_name,
        link,
        link_name,
    };
    let a = fams.counters(
        &["www", "api"],
        3,
        [
            path(0, "www", "hq", 0, "default"),
            path(0, "www", "dr", 2, "default"),
            path(1, "api", "hq", 1, "telecom"),
        ],
    );
    a.chosen(0, 2);
    a.chosen(0, 2);
    a.chosen(1, 1);
    a.chosen(1, 0); // not a path of api: ignored
    a.chosen(9, 9);
    a.fallback(1);
    let text = encode(&r);
    for line in [
        "meridian_dns_service_answers_total{service=\"www\",site=\"dr\",link=\"default\"} 2\n",
        "meridian_dns_service_answers_total{service=\"www\",site=\"hq\",link=\"default\"} 0\n",
        "meridian_dns_service_answers_total{service=\"api\",site=\"hq\",link=\"telecom\"} 1\n",
        "meridian_dns_service_fallbacks_total{service=\"api\"} 1\n",
        "meridian_dns_service_fallbacks_total{service=\"www\"} 0\n",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert_eq!(
        text.matches("meridian_dns_service_answers_total{").count(),
        3
    );
    // A reload without api: its series go, www's count carries over.
    let b = fams.counters(&["www"], 1, [path(0, "www", "dr", 0, "default")]);
    b.chosen(0, 0);
    let text = encode(&r);
    assert!(
        text.contains(
            "meridian_dns_service_answers_total{service=\"www\",site=\"dr\",link=\"default\"} 3\n"
        ),
        "{text}"
    );
    assert!(!text.contains("api"), "{text}");
    assert!(!text.contains("site=\"hq\""), "{text}");
    // The old snapshot's counters still count, unrendered.
    a.chosen(1, 1);
    assert!(!encode(&r).contains("api"));
}

#[test]
fn events_render_labelled() {
    probe("t_tcp", true, Duration::from_millis(3));
    probe("t_tcp", false, Duration::from_millis(700));
    transition("t_tcp", "down");
    let text = render();
    for line in [
        "meridian_health_probes_total{check=\"t_tcp\",result=\"up\"} ",
        "meridian_health_probes_total{check=\"t_tcp\",result=\"down\"} ",
        "meridian_health_transitions_total{check=\"t_tcp\",to=\"down\"} ",
        "# TYPE meridian_health_probe_duration_seconds histogram\n",
        "meridian_health_probe_duration_seconds_bucket{check=\"t_tcp\",le=\"0.005\"} ",
        "meridian_reloads_total{result=\"invalid\"} ",
        "# TYPE meridian_dns_queries_total counter\n",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}
