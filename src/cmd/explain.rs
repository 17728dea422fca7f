//! `meridian explain`: why a client gets the answer it gets, for a person or (`--json`) a
//! machine. It runs the real answer core on the real snapshot; for a service name it also
//! shows the policy's reasoning (attributes, route rule, candidate sites and links, health).
//!
//! Health comes from the running server's admin endpoint when it answers (live), else from
//! the configuration's and the state file's overrides (offline: probes are not known and
//! checked targets count as up).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use clap::Args;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use serde_json::{Value, json};

use super::{ConfigArg, UsageError};
use crate::config::{Config, Override, OverrideState};
use crate::policy::{self, Compiled, Explanation, State};

/// Explain the answer a client gets for NAME.
#[derive(Debug, Args)]
pub struct Explain {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The client address (the ECS address a resolver would send, or the query's source).
    #[arg(long)]
    pub client: IpAddr,
    /// The query name.
    pub name: String,
    /// The query type.
    #[arg(default_value = "A")]
    pub qtype: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not ask the running server for live health.
    #[arg(long)]
    pub offline: bool,
}

impl Explain {
    pub fn run(self) -> anyhow::Result<()> {
        let path = self.config.path();
        let crate::serve::Checked {
            config: cfg,
            mut snapshot,
            ..
        } = crate::serve::check(&path)?;
        let rtype: RecordType = self
            .qtype
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| UsageError(format!("`{}` is not a record type", self.qtype)))?;
        let qname = Name::from_ascii(&self.name)
            .map_err(|e| UsageError(format!("`{}`: {e}", self.name)))?;
        let mut source =
            String::from("offline: configuration and state-file overrides; probes not known");
        if let Some(policy) = snapshot.policy.clone() {
            let (view, src) = health_view(&cfg, &policy, self.offline);
            source = src;
            snapshot.health = Arc::new(view);
        }
        let response = run_query(&snapshot, &qname, rtype, self.client)?;
        let lower = self.name.trim_end_matches('.').to_ascii_lowercase();
        let explanation = snapshot.policy.as_ref().and_then(|p| {
            let sid = p.service_id(&lower)?;
            let v6 = rtype == RecordType::AAAA;
            matches!(rtype, RecordType::A | RecordType::AAAA)
                .then(|| p.explain(sid, self.client, v6, &snapshot.health))?
        });
        if self.json {
            let out = json!({
                "client": self.client.to_string(),
                "name": self.name,
                "type": rtype.to_string(),
                "health_source": source,
                "policy": explanation,
                "response": response_json(&response),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            print!(
                "{}",
                human(&self, rtype, &source, explanation.as_ref(), &response)
            );
        }
        Ok(())
    }
}

/// Health for the explanation: live from the admin endpoint if it answers, else offline.
fn health_view(cfg: &Config, policy: &Compiled, offline: bool) -> (policy::HealthView, String) {
    if !offline && let Some(addr) = cfg.server.admin {
        match live_states(addr) {
            Ok((states, overrides, generation)) => {
                let mut v = policy::HealthView::all_up(policy);
                for (ip, st) in states {
                    v.set_ip(policy, ip, st);
                }
                for (target, st) in overrides {
                    let (Ok(target), Some(state)) = (
                        crate::config::parse_override_target(&target, &cfg.sites),
                        OverrideState::parse(&st),
                    ) else {
                        continue;
                    };
                    v.apply(policy, &Override { target, state });
                }
                return (
                    v,
                    format!("live: admin endpoint {addr}, health generation {generation}"),
                );
            }
            Err(e) => tracing::debug!(error = %e, "no live health"),
        }
    }
    let mut overrides = crate::health::Overrides::from_config(&cfg.overrides);
    let mut note = String::from("offline: configuration overrides");
    if let Some(file) = &cfg.health.state_file {
        match overrides.load_runtime(file) {
            Ok(()) => note.push_str(&format!(" and state file {}", file.display())),
            Err(e) => note.push_str(&format!(" (state file not read: {e})")),
        }
    }
    note.push_str("; probes not known, checked targets counted as up");
    let mut v = policy::HealthView::all_up(policy);
    for o in overrides.list() {
        v.apply(policy, &o);
    }
    (v, note)
}

/// Per-address states, overrides (target, state) and the health generation from `/status`.
type Live = (Vec<(IpAddr, State)>, Vec<(String, String)>, u64);

fn live_states(addr: SocketAddr) -> anyhow::Result<Live> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body: Value = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(1))
            // plain http to a loopback endpoint: no system CA roots needed (a minimal host
            // has none, and the default verifier refuses to build without them)
            .tls_certs_only([])
            // the bearer token must never travel through `http_proxy`, even to loopback
            .no_proxy()
            .build()?;
        let resp = client
            .get(format!("http://{addr}/status"))
            .send()
            .await?
            .error_for_status()?;
        Ok::<_, anyhow::Error>(serde_json::from_str(&resp.text().await?)?)
    })?;
    let mut out = Vec::new();
    for t in body["targets"].as_array().into_iter().flatten() {
        let (Some(ip), Some(st)) = (
            t["address"].as_str().and_then(|a| a.parse().ok()),
            t["state"].as_str(),
        ) else {
            continue;
        };
        let st = match st {
            "down" => State::Down,
            "drain" => State::Drain,
            _ => State::Up,
        };
        out.push((ip, st));
    }
    let overrides = body["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o["target"].as_str()?.to_string(),
                o["state"].as_str()?.to_string(),
            ))
        })
        .collect();
    Ok((
        out,
        overrides,
        body["health_generation"].as_u64().unwrap_or(0),
    ))
}

/// Ask the real answer core, as a query from `client` carrying ECS for `client`'s /24 or /56
/// when it is a routable address (so the scope is shown as a resolver would see it).
fn run_query(
    snapshot: &crate::state::Snapshot,
    qname: &Name,
    rtype: RecordType,
    client: IpAddr,
) -> anyhow::Result<Message> {
    let mut m = Message::new(0x4d52, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(qname.clone(), rtype));
    let mut bytes = m.to_vec()?;
    add_ecs(&mut bytes, client);
    let mut out = Vec::with_capacity(4096);
    crate::dns::answer(
        snapshot,
        &bytes,
        SocketAddr::new(client, 53000),
        crate::dns::Transport::Tcp,
        &mut out,
    );
    Ok(Message::from_vec(&out)?)
}

/// Append an OPT record with an ECS option for the client's full address.
fn add_ecs(q: &mut Vec<u8>, client: IpAddr) {
    let (family, addr): (u16, Vec<u8>) = match client {
        IpAddr::V4(a) => (1, a.octets().to_vec()),
        IpAddr::V6(a) => (2, a.octets().to_vec()),
    };
    let prefix = (addr.len() * 8) as u8;
    let opt_len = 4 + addr.len() as u16;
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0]);
    q.extend_from_slice(&(4 + opt_len).to_be_bytes());
    q.extend_from_slice(&8u16.to_be_bytes());
    q.extend_from_slice(&opt_len.to_be_bytes());
    q.extend_from_slice(&family.to_be_bytes());
    q.extend_from_slice(&[prefix, 0]);
    q.extend_from_slice(&addr);
    q[11] = 1; // ARCOUNT
}

fn response_json(m: &Message) -> Value {
    let recs =
        |v: &[hickory_proto::rr::Record]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    json!({
        "rcode": m.metadata.response_code.to_string(),
        "aa": m.metadata.authoritative,
        "answer": recs(&m.answers),
        "authority": recs(&m.authorities),
        "additional": recs(&m.additionals),
        "ecs_scope": ecs_scope(m),
    })
}

fn ecs_scope(m: &Message) -> Option<u8> {
    let edns = m.edns.as_ref()?;
    edns.options().as_ref().iter().find_map(|(code, opt)| {
        (u16::from(*code) == 8).then(|| match opt {
            hickory_proto::rr::rdata::opt::EdnsOption::Subnet(s) => Some(s.scope_prefix()),
            _ => None,
        })?
    })
}

fn state(s: State) -> &'static str {
    match s {
        State::Up => "up",
        State::Down => "DOWN",
        State::Drain => "drain",
    }
}

fn human(
    e: &Explain,
    rtype: RecordType,
    source: &str,
    x: Option<&Explanation>,
    resp: &Message,
) -> String {
    let mut o = format!("{} asks {} {}\n", e.client, e.name, rtype);
    match x {
        None => o.push_str(
            "Not a service name (or not A/AAAA): the answer comes from the zone files.\n",
        ),
        Some(x) => {
            let a = &x.attributes;
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            o.push_str(&format!(
                "Client:   continent {}, country {}, subdivision {}, ASN {}{}, ISP {}{}\n          (the same for the whole /{} around it)\n",
                opt(&a.continent),
                opt(&a.country),
                opt(&a.subdivision),
                a.asn.map_or("-".into(), |n| n.to_string()),
                a.as_org.as_ref().map_or(String::new(), |s| format!(" ({s})")),
                opt(&a.isp),
                a.location.map_or(String::new(), |[la, lo]| format!(", at {la:.2},{lo:.2}")),
                a.attributes_prefix,
            ));
            o.push_str(&format!(
                "Service:  {}, mode {}, TTL {}\n",
                x.service, x.mode, x.ttl
            ));
            o.push_str(&format!("Route:    {}\n", x.why));
            o.push_str(&format!(
                "Link:     {}\n",
                x.link_isp.as_ref().map_or(
                    "no ISP-specific link applies: each site's `default` link".into(),
                    |i| format!("the `{i}` link where a site has one and it is up, else `default`")
                )
            ));
            o.push_str(&format!(
                "Health:   {source}\nSites, in the order the mode considers them:\n"
            ));
            for (n, s) in x.sites.iter().enumerate() {
                o.push_str(&format!(
                    "  {}. {:<10} {:<5} weight {:<4}{}{}{}\n",
                    n + 1,
                    s.name,
                    state(s.state),
                    s.weight,
                    s.distance_km
                        .map_or(String::new(), |d| format!(" {d:.0} km")),
                    s.link
                        .as_ref()
                        .map_or(" no usable link".to_string(), |l| format!(" -> link {l}")),
                    if s.selected { "   [SELECTED]" } else { "" }
                ));
                for l in &s.links {
                    let addrs: Vec<String> = l
                        .addrs
                        .iter()
                        .map(|(ip, st)| format!("{ip} {}", state(*st)))
                        .collect();
                    o.push_str(&format!(
                        "       link {:<10} {:<5} {}\n",
                        l.name,
                        state(l.state),
                        addrs.join(", ")
                    ));
                }
            }
            if x.fallback {
                o.push_str("Nothing was healthy: the service's `fallback` gave the answer.\n");
            }
        }
    }
    o.push_str(&format!(
        "Answer:   {} {}\n",
        resp.metadata.response_code,
        if resp.metadata.authoritative {
            "(authoritative)"
        } else {
            ""
        }
    ));
    for r in &resp.answers {
        o.push_str(&format!("          {r}\n"));
    }
    for r in &resp.authorities {
        o.push_str(&format!("  auth    {r}\n"));
    }
    match ecs_scope(resp) {
        Some(s) => o.push_str(&format!(
            "ECS:      a resolver sending this client's subnet gets SCOPE /{s}\n"
        )),
        None => o.push_str("ECS:      (no ECS in the answer)\n"),
    }
    o
}
