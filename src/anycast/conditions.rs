//! Each `when` condition judged over the health authority's publication, the local
//! director's VIP states and the result of the DNS self-query; pure.

use crate::config::AnycastCondition as Condition;
use crate::health::Published;
use crate::lvs::VipState;

/// What the conditions are judged on.
pub struct World<'a> {
    pub published: &'a Published,
    pub vips: &'a VipState,
    /// The self-query over every listen address (Err: why not).
    pub dns: &'a Result<(), String>,
}

/// One condition's verdict: None when it holds, else why not.
pub fn judge(c: &Condition, w: &World<'_>) -> Option<String> {
    let targets = &w.published.registry.dns;
    let verdicts = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t, w.published.dns.get(i)));
    match c {
        Condition::Dns => w.dns.as_ref().err().map(|e| format!("dns: {e}")),
        Condition::Vip(ip) => match w.vips.ip_up(*ip) {
            Some(true) => None,
            Some(false) => Some(format!("vip:{ip}: the director's quorum is lost")),
            None => Some(format!("vip:{ip}: the director reports no state yet")),
        },
        Condition::Site(name) => {
            let mut any = false;
            for (_, v) in verdicts.filter(|(t, _)| t.site == *name) {
                any = true;
                if v.serves() {
                    return None;
                }
            }
            Some(if any {
                format!("site:{name}: no address of the site serves")
            } else {
                format!("site:{name}: no service uses the site, so nothing judges it")
            })
        }
        Condition::Addr(ip) => {
            let mut any = false;
            for (_, v) in verdicts.filter(|(t, _)| t.addr == *ip) {
                any = true;
                if !v.serves() {
                    return Some(format!("addr:{ip}: {} ({})", v.status, v.source.as_str()));
                }
            }
            (!any).then(|| format!("addr:{ip}: no service uses the address, so nothing judges it"))
        }
    }
}

/// Every failing condition with its reason.
pub fn failing(when: &[Condition], w: &World<'_>) -> Vec<String> {
    when.iter().filter_map(|c| judge(c, w)).collect()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use super::*;
    use crate::health::{DnsTarget, Level, Registry, Source, Status, Table, Verdict};

    fn published(states: &[(&str, &str, Verdict)]) -> Published {
        let dns = states
            .iter()
            .map(|(site, addr, _)| DnsTarget {
                site: site.to_string(),
                link: "default".into(),
                addr: addr.parse().unwrap(),
            })
            .collect();
        Published {
            generation: 1,
            registry: Arc::new(Registry { dns, lvs: vec![] }),
            dns: Arc::new(Table::new(states.iter().map(|s| s.2).collect())),
            lvs: Arc::default(),
        }
    }

    const UP: Verdict = Verdict::UNCHECKED;
    const DOWN: Verdict = Verdict {
        status: Status::Down,
        source: Source::Probe,
    };
    const DRAIN: Verdict = Verdict {
        status: Status::Drain,
        source: Source::Override(Level::Addr),
    };

    #[test]
    fn site_needs_one_serving_address_and_addr_needs_all() {
        let p = published(&[
            ("hq", "192.0.2.1", DOWN),
            ("hq", "192.0.2.2", UP),
            ("dr", "192.0.2.2", DRAIN),
        ]);
        let vips = VipState::default();
        let ok = Ok(());
        let w = World {
            published: &p,
            vips: &vips,
            dns: &ok,
        };
        assert_eq!(judge(&Condition::Site("hq".into()), &w), None);
        assert!(
            judge(&Condition::Site("dr".into()), &w)
                .unwrap()
                .contains("no address")
        );
        assert!(
            judge(&Condition::Site("xx".into()), &w)
                .unwrap()
                .contains("no service")
        );
        let ip: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            judge(&Condition::Addr(ip), &w).unwrap(),
            "addr:192.0.2.2: drain (address override)"
        );
        let ip1: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(
            judge(&Condition::Addr(ip1), &w)
                .unwrap()
                .contains("down (probe)")
        );
    }

    #[test]
    fn dns_and_vip() {
        let p = published(&[]);
        let vips = VipState::default();
        let bad = Err("127.0.0.1:53: timeout".to_string());
        let w = World {
            published: &p,
            vips: &vips,
            dns: &bad,
        };
        let f = failing(
            &[Condition::Dns, Condition::Vip("192.0.2.9".parse().unwrap())],
            &w,
        );
        assert_eq!(f[0], "dns: 127.0.0.1:53: timeout");
        assert!(f[1].contains("no state yet"));
    }
}
