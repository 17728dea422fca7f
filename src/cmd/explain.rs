//! `meridian explain`: why a client gets the answer it gets, for a person or (`--json`) a
//! machine. It runs the real answer core on the real snapshot; for a service name it also
//! shows the policy's reasoning (attributes, route rule, candidate sites and links, health).
//!
//! Health comes from the running server's admin endpoint when it answers (live), else from
//! the configuration's and the state file's overrides (offline: probes are not known and
//! checked targets count as up). With `[anycast]`, each prefix's state, why and conditions
//! come from the same `/status` document (`meridian status` prints them the same way);
//! without it, the configured prefixes are listed and the output says why their state is
//! not known.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use clap::Args;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use serde_json::{Value, json};

use super::{ConfigArg, UsageError};
use crate::config::Config;
use crate::health::{Level, Source, Status, Table, Verdict};
use crate::policy::Compiled;
use anycast::{LiveStatus, anycast_human, anycast_json, live_status};
use human::human;

mod anycast;
mod human;

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
        let mut vantage = HashMap::new();
        let live = live_status(&cfg, self.offline);
        if let Some(policy) = snapshot.policy.clone() {
            let (view, src, v) = health_view(&cfg, &policy, &live);
            source = src;
            vantage = v;
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
                "vantage": vantage.iter().map(|(ip, v)| (ip.to_string(), v.clone())).collect::<serde_json::Map<_, _>>(),
                "response": response_json(&response),
                "anycast": anycast_json(&cfg, &live),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            print!(
                "{}",
                human(
                    &self,
                    rtype,
                    &source,
                    explanation.as_ref(),
                    &vantage,
                    &response
                )
            );
            print!("{}", anycast_human(&cfg, &live));
        }
        Ok(())
    }
}

/// Health for the explanation: live from the admin endpoint if it answers, else offline; with
/// a cluster, what each node sees of every checked address (from `/status`).
fn health_view(
    cfg: &Config,
    policy: &Compiled,
    live: &LiveStatus,
) -> (Table, String, HashMap<IpAddr, Value>) {
    let mut overrides = crate::health::Overrides::from_config(&cfg.overrides);
    if let Ok((addr, body)) = live {
        let (live, generation, vantage) = live_verdicts(body);
        // A target the server does not list (another configuration) reads as the
        // configuration's overrides say.
        let offline = crate::serve::offline_table(cfg, policy, overrides.clone());
        let verdicts = policy
            .targets()
            .iter()
            .map(|t| {
                live.get(&(t.site.clone(), t.link.clone(), t.addr))
                    .copied()
                    .unwrap_or_else(|| offline.get(t.id.index()))
            })
            .collect();
        return (
            Table::new(verdicts),
            format!("live: admin endpoint {addr}, health generation {generation}"),
            vantage,
        );
    }
    let mut note = String::from("offline: configuration overrides");
    if let Some(file) = &cfg.health.state_file {
        match overrides.load_runtime(file) {
            Ok(()) => note.push_str(&format!(" and state file {}", file.display())),
            Err(e) => note.push_str(&format!(" (state file not read: {e})")),
        }
    }
    note.push_str("; probes not known, checked targets counted as their start state");
    let table = crate::serve::offline_table(cfg, policy, overrides);
    (table, note, HashMap::new())
}

/// Each target's verdict, by (site, link, address), the health generation and, with a
/// cluster, the vantage decisions per address, from `/status`.
type Live = (
    HashMap<(String, String, IpAddr), Verdict>,
    u64,
    HashMap<IpAddr, Value>,
);

fn source_named(name: &str) -> Option<Source> {
    [
        Source::Unchecked,
        Source::Start,
        Source::Probe,
        Source::Director,
        Source::Vantage,
        Source::Override(Level::Site),
        Source::Override(Level::Link),
        Source::Override(Level::Addr),
        Source::Capacity,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
}

fn live_verdicts(body: &Value) -> Live {
    let mut out = HashMap::new();
    let mut vantage = HashMap::new();
    for t in body["targets"].as_array().into_iter().flatten() {
        if let (Some(ip), Some(v)) = (
            t["address"].as_str().and_then(|a| a.parse::<IpAddr>().ok()),
            t["vantage"].as_array().filter(|v| !v.is_empty()),
        ) {
            vantage.insert(ip, Value::Array(v.clone()));
        }
        let (Some(site), Some(link), Some(ip), Some(status), Some(source)) = (
            t["site"].as_str(),
            t["link"].as_str(),
            t["address"].as_str().and_then(|a| a.parse().ok()),
            t["state"].as_str().and_then(Status::parse),
            t["source"].as_str().and_then(source_named),
        ) else {
            continue;
        };
        out.insert(
            (site.to_owned(), link.to_owned(), ip),
            Verdict { status, source },
        );
    }
    (
        out,
        body["health_generation"].as_u64().unwrap_or(0),
        vantage,
    )
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
