//! Rendering of the kernel table for `meridian lvs show`: text in the layout of `ipvsadm -Ln`
//! (and `--stats`), or JSON. Pure functions over a dumped [`Table`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::config::{Forward, VirtualKey};

use super::client::key_display;
use super::codec::consts::*;
use super::model::{Info, ServiceConf, Stats, Table, flag_names, key_af};

fn forward_name(f: Forward) -> &'static str {
    match f {
        Forward::Dr => "Route",
        Forward::Nat => "Masq",
        Forward::Tun => "Tunnel",
    }
}

/// `TCP  10.0.0.1:80`: ipvsadm pads the protocol to four columns.
fn key_col(key: &VirtualKey) -> String {
    let k = key_display(key);
    match k.split_once(' ') {
        Some((p, rest)) => format!("{p:<4} {rest}"),
        None => k,
    }
}

fn service_line(s: &ServiceConf) -> String {
    let mut line = format!("{} {}", key_col(&s.key), s.scheduler);
    let names = flag_names(s.flags, &s.scheduler);
    if !names.is_empty() {
        line.push_str(&format!(" ({})", names.join(",")));
    }
    if s.flags & SVC_F_PERSISTENT != 0 {
        line.push_str(&format!(" persistent {}", s.timeout));
        if key_af(&s.key) == AF_INET6 {
            if s.netmask != 128 {
                line.push_str(&format!(" mask {}", s.netmask));
            }
        } else if s.netmask != u32::MAX {
            line.push_str(&format!(" mask {}", std::net::Ipv4Addr::from(s.netmask)));
        }
    }
    if s.flags & SVC_F_ONEPACKET != 0 {
        line.push_str(" ops");
    }
    line
}

/// What the running director adds to a real server's line, by service (as `TCP 10.0.0.1:80`)
/// and real server: its state when not plainly up (`draining 12s, deadline in 48s`). Real
/// servers the kernel does not hold (drained, removed) get a line of their own.
pub type Notes = BTreeMap<(String, SocketAddr), String>;

/// The notes from the `lvs` part of a running server's `/status`.
pub fn notes_from_status(lvs: &Value) -> Notes {
    let mut out = Notes::new();
    for s in lvs["services"].as_array().into_iter().flatten() {
        let Some(svc) = s["service"].as_str() else {
            continue;
        };
        for r in s["reals"].as_array().into_iter().flatten() {
            let (Some(addr), Some(state)) = (
                r["addr"]
                    .as_str()
                    .and_then(|a| a.parse::<SocketAddr>().ok()),
                r["state"].as_str(),
            ) else {
                continue;
            };
            let d = &r["drain"];
            let note = match state {
                "up" => continue,
                "draining" => {
                    let mut n = format!("draining {}s", d["elapsed_s"].as_u64().unwrap_or(0));
                    if let Some(left) = d["deadline_in_s"].as_u64() {
                        n.push_str(&format!(", deadline in {left}s"));
                    }
                    n
                }
                "drained" => format!("drained ({})", d["ended"].as_str().unwrap_or("ended")),
                "sorry" => "sorry server".to_owned(),
                other => other.to_owned(),
            };
            out.insert((svc.to_owned(), addr), note);
        }
    }
    out
}

/// The `ipvsadm -Ln` layout (with `stats`: `ipvsadm -Ln --stats --exact`), each real server's
/// line followed by its note, if any.
pub fn text(info: &Info, table: &Table, stats: bool, notes: &Notes) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "IP Virtual Server version {} (size={})",
        info.version_string(),
        info.conn_tab_size
    ));
    out.push('\n');
    if stats {
        out.push_str(
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
        );
        out.push_str("  -> RemoteAddress:Port\n");
    } else {
        out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
        out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    }
    for (s, dests) in &table.services {
        let svc_name = key_display(&s.conf.key);
        if stats {
            out.push_str(&format!(
                "{:<33}{}",
                key_col(&s.conf.key),
                stat_cols(&s.stats)
            ));
            out.push('\n');
        } else {
            out.push_str(&service_line(&s.conf));
            out.push('\n');
        }
        for d in dests {
            if stats {
                out.push_str(&format!(
                    "  -> {:<28}{}",
                    d.conf.addr.to_string(),
                    stat_cols(&d.stats)
                ));
            } else {
                out.push_str(&format!(
                    "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                    d.conf.addr.to_string(),
                    forward_name(d.conf.forward),
                    d.conf.weight,
                    d.active_conns,
                    d.inactive_conns
                ));
            }
            if let Some(n) = notes.get(&(svc_name.clone(), d.conf.addr)) {
                out.push_str(&format!(" {n}"));
            }
            out.push('\n');
        }
        for ((svc, addr), n) in notes.range((svc_name.clone(), SOCK_MIN)..) {
            if *svc != svc_name {
                break;
            }
            if !dests.iter().any(|d| d.conf.addr == *addr) {
                out.push_str(&format!("  -> {:<28} {n}\n", addr.to_string()));
            }
        }
    }
    out
}

/// The least socket address, to start a range over one service's notes.
const SOCK_MIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

fn stat_cols(s: &Stats) -> String {
    format!(
        " {:>8} {:>8} {:>8} {:>8} {:>8}",
        s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes
    )
}

pub(crate) fn stats_json(s: &Stats) -> Value {
    json!({
        "conns": s.conns, "inpkts": s.inpkts, "outpkts": s.outpkts,
        "inbytes": s.inbytes, "outbytes": s.outbytes, "cps": s.cps,
        "inpps": s.inpps, "outpps": s.outpps, "inbps": s.inbps, "outbps": s.outbps,
    })
}

fn key_json(k: &VirtualKey) -> Value {
    match k {
        VirtualKey::Addr { protocol, addr } => json!({
            "protocol": format!("{protocol:?}").to_lowercase(),
            "vip": addr.to_string(),
        }),
        VirtualKey::Fwmark { fwmark, ipv6 } => json!({
            "fwmark": fwmark, "family": if *ipv6 { "inet6" } else { "inet" },
        }),
    }
}

/// The table as JSON (statistics included when `stats`).
pub fn json(info: &Info, table: &Table, stats: bool) -> Value {
    let services: Vec<Value> = table
        .services
        .iter()
        .map(|(s, dests)| {
            let mut v = key_json(&s.conf.key);
            v["scheduler"] = json!(s.conf.scheduler);
            v["flags"] = json!(s.conf.flags);
            v["persistent"] = json!(s.conf.flags & SVC_F_PERSISTENT != 0);
            v["timeout"] = json!(s.conf.timeout);
            v["netmask"] = json!(s.conf.netmask);
            if stats {
                v["stats"] = stats_json(&s.stats);
            }
            v["reals"] = dests
                .iter()
                .map(|d| {
                    let mut r = json!({
                        "addr": d.conf.addr.to_string(),
                        "forward": forward_name(d.conf.forward).to_lowercase(),
                        "weight": d.conf.weight,
                        "u_threshold": d.conf.u_threshold,
                        "l_threshold": d.conf.l_threshold,
                        "active_conns": d.active_conns,
                        "inactive_conns": d.inactive_conns,
                        "persist_conns": d.persist_conns,
                    });
                    if stats {
                        r["stats"] = stats_json(&d.stats);
                    }
                    r
                })
                .collect();
            v
        })
        .collect();
    json!({ "version": info.version_string(), "conn_tab_size": info.conn_tab_size, "services": services })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;
    use crate::lvs::model::{Dest, DestConf, Service, Tunnel};

    #[test]
    fn text_matches_ipvsadm_layout() {
        let key = VirtualKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1:80".parse().unwrap(),
        };
        let svc = Service {
            conf: ServiceConf {
                key,
                scheduler: "wrr".into(),
                flags: SVC_F_PERSISTENT,
                timeout: 300,
                netmask: u32::MAX,
            },
            pe_name: None,
            stats: Stats::default(),
        };
        let dest = Dest {
            conf: DestConf {
                addr: "10.0.0.2:80".parse().unwrap(),
                forward: Forward::Dr,
                weight: 5,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Tunnel::default(),
            },
            active_conns: 1,
            inactive_conns: 2,
            persist_conns: 0,
            stats: Stats::default(),
        };
        let info = Info {
            version: 0x010201,
            conn_tab_size: 4096,
        };
        let t = Table {
            services: vec![(svc, vec![dest])],
        };
        let mut notes = Notes::new();
        notes.insert(
            ("TCP 10.0.0.1:80".into(), "10.0.0.9:80".parse().unwrap()),
            "drained (connections ended)".into(),
        );
        notes.insert(
            ("TCP 10.0.0.1:80".into(), "10.0.0.2:80".parse().unwrap()),
            "draining 3s".into(),
        );
        let s = text(&info, &t, false, &Notes::new());
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "IP Virtual Server version 1.2.1 (size=4096)");
        assert_eq!(lines[3], "TCP  10.0.0.1:80 wrr persistent 300");
        assert_eq!(
            lines[4].trim_end(),
            "  -> 10.0.0.2:80                  Route   5      1          2"
        );
        let s = text(&info, &t, false, &notes);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[4].ends_with(" draining 3s"), "{s}");
        assert_eq!(
            lines[5],
            "  -> 10.0.0.9:80                  drained (connections ended)"
        );
        let j = json(&info, &t, true);
        assert_eq!(j["services"][0]["reals"][0]["weight"], 5);
        assert_eq!(j["services"][0]["vip"], "10.0.0.1:80");
    }
}
