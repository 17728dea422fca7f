//! Driver for `bench/cluster.sh`: hosts the TCP targets every node probes, and measures a
//! running cluster of `meridian serve` processes on loopback from the outside.
//!
//! ```text
//! cluster_bench --nodes 10 --targets 1000 --target-port 39000 --dns-base 39100 \
//!   --admin-base 39200 --dir DIR --pids P1,P2,... --steady 30 --overrides 12 --flips 6
//! ```
//! Target j listens on 127.0.(10 + j / 250).(1 + j % 250):TARGET_PORT; target 0 is the first
//! site of the `flip` service, target 1 its second. Node i answers DNS on
//! 127.0.0.1:(DNS_BASE + i) and its admin API on 127.0.0.1:(ADMIN_BASE + i), with its token in
//! DIR/node<i>.token. Measured, in this order:
//! 1. gossip bytes/s per node (the nodes' own `meridian_cluster_bytes_*_total` counters) and
//!    CPU per node (utime + stime from /proc/PID/stat) over a steady window;
//! 2. override propagation: set on one node through the admin API, time until every node lists
//!    it (`GET /overrides`), one trial per setter in turn;
//! 3. target flip: close target 0's listener, time until every node's answer for
//!    `flip.bench.test` moves to target 1; then reopen it and wait for the answers to return.
//!
//! Every wait is bounded; the process ends (closing every listener) when it is done.

// A benchmark driver is all shell: it measures wall time by design.
#![allow(clippy::disallowed_methods)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::task::JoinHandle;

const FLIP_NAME: &str = "flip.bench.test.";
/// Longest wait for one propagation or flip trial.
const TRIAL_LIMIT: Duration = Duration::from_secs(20);
/// Longest wait for the cluster to be ready (every node sees every other, answers agree).
const READY_LIMIT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(10);

struct Opts {
    nodes: usize,
    targets: usize,
    target_port: u16,
    dns_base: u16,
    admin_base: u16,
    dir: PathBuf,
    pids: Vec<u32>,
    steady: u64,
    overrides: usize,
    flips: usize,
}

fn opts() -> anyhow::Result<Opts> {
    let mut o = Opts {
        nodes: 10,
        targets: 1000,
        target_port: 39000,
        dns_base: 39100,
        admin_base: 39200,
        dir: PathBuf::from("."),
        pids: Vec::new(),
        steady: 30,
        overrides: 12,
        flips: 6,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let v = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let bad = || format!("bad value for {flag}: {v}");
        match flag.as_str() {
            "--nodes" => o.nodes = v.parse().with_context(bad)?,
            "--targets" => o.targets = v.parse().with_context(bad)?,
            "--target-port" => o.target_port = v.parse().with_context(bad)?,
            "--dns-base" => o.dns_base = v.parse().with_context(bad)?,
            "--admin-base" => o.admin_base = v.parse().with_context(bad)?,
            "--dir" => o.dir = PathBuf::from(&v),
            "--pids" => {
                o.pids = v
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .with_context(bad)?
            }
            "--steady" => o.steady = v.parse().with_context(bad)?,
            "--overrides" => o.overrides = v.parse().with_context(bad)?,
            "--flips" => o.flips = v.parse().with_context(bad)?,
            _ => bail!("unknown option {flag}"),
        }
    }
    if o.pids.len() != o.nodes {
        bail!(
            "--pids lists {} processes for {} nodes",
            o.pids.len(),
            o.nodes
        );
    }
    if o.targets < 2 || o.targets > 250 * 40 {
        bail!("--targets must be 2..=10000");
    }
    if !(1..=3600).contains(&o.steady) || o.overrides > 1000 || o.flips > 100 {
        bail!("--steady 1..=3600 s, --overrides up to 1000, --flips up to 100");
    }
    Ok(o)
}

/// Target j's address.
fn target(j: usize, port: u16) -> anyhow::Result<SocketAddr> {
    let third = u8::try_from(10 + j / 250)?;
    let fourth = u8::try_from(1 + j % 250)?;
    Ok(SocketAddr::from((
        Ipv4Addr::new(127, 0, third, fourth),
        port,
    )))
}

/// A listener accepting and closing every connection, until its task is aborted.
fn listen(addr: SocketAddr) -> anyhow::Result<JoinHandle<()>> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr).with_context(|| format!("bind {addr}"))?;
    let listener = sock.listen(1024)?;
    Ok(tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    }))
}

/// The median and the range of `v` (sorted here).
fn summary(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

struct Bench {
    o: Opts,
    http: reqwest::Client,
    tokens: Vec<String>,
    dns: tokio::net::UdpSocket,
    query_id: u16,
}

impl Bench {
    fn admin(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", usize::from(self.o.admin_base) + i)
    }

    async fn get(&self, i: usize, path: &str) -> anyhow::Result<String> {
        let r = self
            .http
            .get(format!("{}{path}", self.admin(i)))
            .bearer_auth(&self.tokens[i])
            .timeout(Duration::from_secs(5))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("node {i} {path}: {}", r.status());
        }
        Ok(r.text().await?)
    }

    /// The value of an unlabelled metric of node i.
    async fn metric(&self, i: usize, name: &str) -> anyhow::Result<f64> {
        let text = self.get(i, "/metrics").await?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .with_context(|| format!("node {i} has no metric {name}"))
    }

    /// The IPv4 addresses node i answers for the flip service (empty on no answer).
    async fn answer(&mut self, i: usize) -> anyhow::Result<Vec<Ipv4Addr>> {
        self.query_id = self.query_id.wrapping_add(1);
        let mut m = Message::new(self.query_id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(FLIP_NAME)?, RecordType::A));
        let to = SocketAddr::from(([127, 0, 0, 1], self.o.dns_base + u16::try_from(i)?));
        self.dns.send_to(&m.to_vec()?, to).await?;
        let mut buf = [0u8; 1500];
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(r) = tokio::time::timeout(left, self.dns.recv_from(&mut buf)).await else {
                return Ok(Vec::new());
            };
            let (n, from) = r?;
            let Ok(reply) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if from != to || reply.id != self.query_id {
                continue;
            }
            let mut out: Vec<Ipv4Addr> = reply
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            out.sort();
            return Ok(out);
        }
    }

    /// Waits until every node sees every other alive and answers `want`.
    async fn ready(&mut self, want: Ipv4Addr) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let mut why = String::new();
        while start.elapsed() < READY_LIMIT {
            let mut ok = true;
            for i in 0..self.o.nodes {
                let alive = match self.get(i, "/status").await {
                    Ok(text) => {
                        let v: serde_json::Value = serde_json::from_str(&text)?;
                        v["cluster"]["peers"]
                            .as_array()
                            .map_or(0, |p| p.iter().filter(|p| p["liveness"] == "alive").count())
                    }
                    Err(_) => 0,
                };
                let answer = self.answer(i).await?;
                if alive + 1 != self.o.nodes || answer != [want] {
                    why = format!("node{i} sees {alive} peers alive and answers {answer:?}");
                    ok = false;
                    break;
                }
            }
            if ok {
                return Ok(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("the cluster was not ready within {READY_LIMIT:?}: {why}")
    }

    /// Every node's gossip bytes sent and received and its CPU seconds, now.
    async fn sample(&self) -> anyhow::Result<(Instant, Vec<(f64, f64, f64)>)> {
        let mut out = Vec::new();
        for i in 0..self.o.nodes {
            let sent = self.metric(i, "meridian_cluster_bytes_sent_total").await?;
            let recv = self
                .metric(i, "meridian_cluster_bytes_received_total")
                .await?;
            out.push((sent, recv, cpu_seconds(self.o.pids[i])?));
        }
        Ok((Instant::now(), out))
    }

    /// Gossip bytes and CPU per node over the steady window.
    async fn steady(&self) -> anyhow::Result<()> {
        let (t0, a) = self.sample().await?;
        tokio::time::sleep(Duration::from_secs(self.o.steady)).await;
        let (t1, b) = self.sample().await?;
        let wall = t1.duration_since(t0).as_secs_f64();
        let (mut sent, mut recv, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let (s, r, c) = (
                (y.0 - x.0) / wall,
                (y.1 - x.1) / wall,
                100.0 * (y.2 - x.2) / wall,
            );
            println!(
                "node{i}: gossip sent {:.1} kB/s, received {:.1} kB/s, cpu {c:.1}% of one core",
                s / 1e3,
                r / 1e3
            );
            sent.push(s / 1e3);
            recv.push(r / 1e3);
            cpu.push(c);
        }
        let line = |name: &str, unit: &str, v: &mut Vec<f64>| {
            let (m, lo, hi) = summary(v);
            println!("RESULT {name}: median {m:.1} {unit} (min {lo:.1}, max {hi:.1})");
        };
        println!("steady window {wall:.1} s, {} nodes", self.o.nodes);
        line("gossip_sent_per_node", "kB/s", &mut sent);
        line("gossip_received_per_node", "kB/s", &mut recv);
        line("cpu_per_node", "% of one core", &mut cpu);
        Ok(())
    }

    /// One override trial: set on node `from`, time until every node lists it.
    async fn override_trial(&self, k: usize, from: usize) -> anyhow::Result<f64> {
        let victim = target(self.o.targets - 1, self.o.target_port)?.ip();
        let reason = format!("bench trial {k}");
        let state = if k.is_multiple_of(2) { "down" } else { "up" };
        let body = serde_json::json!({"target": format!("addr:{victim}"), "state": state,
            "author": "cluster_bench", "reason": reason});
        let start = Instant::now();
        let r = self
            .http
            .post(format!("{}/overrides", self.admin(from)))
            .bearer_auth(&self.tokens[from])
            .body(body.to_string())
            .timeout(Duration::from_secs(5))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("node {from} refused the override: {}", r.status());
        }
        let mut seen = vec![false; self.o.nodes];
        while start.elapsed() < TRIAL_LIMIT {
            for (i, s) in seen.iter_mut().enumerate() {
                if !*s {
                    let list = self.get(i, "/overrides").await?;
                    *s = list.contains(&format!("\"{reason}\""));
                }
            }
            if seen.iter().all(|s| *s) {
                return Ok(start.elapsed().as_secs_f64());
            }
            tokio::time::sleep(POLL).await;
        }
        bail!("override {k} from node {from} not everywhere after {TRIAL_LIMIT:?}: {seen:?}")
    }

    /// Until every node answers `want`; the time it took.
    async fn all_answer(&mut self, want: Ipv4Addr, limit: Duration) -> anyhow::Result<f64> {
        let start = Instant::now();
        let mut moved = vec![false; self.o.nodes];
        while start.elapsed() < limit {
            for (i, m) in moved.iter_mut().enumerate() {
                if !*m {
                    *m = self.answer(i).await? == [want];
                }
            }
            if moved.iter().all(|m| *m) {
                return Ok(start.elapsed().as_secs_f64());
            }
            tokio::time::sleep(POLL).await;
        }
        bail!("not every node answers {want} after {limit:?}: {moved:?}")
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    let after = stat.rsplit_once(')').context("stat format")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = f.get(11).context("utime")?.parse()?;
    let stime: f64 = f.get(12).context("stime")?.parse()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((utime + stime) / ticks)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = opts()?;
    let mut listeners = Vec::with_capacity(o.targets);
    for j in 0..o.targets {
        listeners.push(listen(target(j, o.target_port)?)?);
    }
    println!("listening on {} targets", o.targets);
    let mut tokens = Vec::new();
    for i in 0..o.nodes {
        let path = o.dir.join(format!("node{i}.token"));
        let mut found = None;
        for _ in 0..300 {
            if let Ok(t) = std::fs::read_to_string(&path)
                && !t.trim().is_empty()
            {
                found = Some(t.trim().to_string());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokens.push(found.with_context(|| format!("no token in {}", path.display()))?);
    }
    let primary = match target(0, o.target_port)?.ip() {
        std::net::IpAddr::V4(a) => a,
        std::net::IpAddr::V6(_) => bail!("targets are IPv4"),
    };
    let backup = match target(1, o.target_port)?.ip() {
        std::net::IpAddr::V4(a) => a,
        std::net::IpAddr::V6(_) => bail!("targets are IPv4"),
    };
    let mut b = Bench {
        http: reqwest::Client::builder().no_proxy().build()?,
        tokens,
        dns: tokio::net::UdpSocket::bind("127.0.0.1:0").await?,
        query_id: 0,
        o,
    };
    let took = b.ready(primary).await?;
    println!(
        "ready after {:.1} s: every node sees {} peers alive and answers {primary}",
        took.as_secs_f64(),
        b.o.nodes - 1
    );
    b.steady().await?;

    let mut times = Vec::new();
    for k in 0..b.o.overrides {
        let from = k % b.o.nodes;
        let t = b.override_trial(k, from).await?;
        println!("override {k} set on node{from}: on every node after {t:.3} s");
        times.push(t);
    }
    let (m, lo, hi) = summary(&mut times);
    println!(
        "RESULT override_propagation: median {m:.3} s (min {lo:.3}, max {hi:.3}) over {} trials",
        times.len()
    );

    let mut flips = Vec::new();
    for k in 0..b.o.flips {
        listeners[0].abort();
        let t = b.all_answer(backup, TRIAL_LIMIT).await?;
        println!("flip {k}: target 0 closed, every node answers {backup} after {t:.3} s");
        flips.push(t);
        listeners[0] = listen(target(0, b.o.target_port)?)?;
        let back = b.all_answer(primary, TRIAL_LIMIT).await?;
        println!("flip {k}: target 0 reopened, every node answers {primary} after {back:.3} s");
        // Let every node's own probe settle (rise) before the next trial.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let (m, lo, hi) = summary(&mut flips);
    println!(
        "RESULT target_flip: median {m:.3} s (min {lo:.3}, max {hi:.3}) over {} trials",
        flips.len()
    );
    for l in &listeners {
        l.abort();
    }
    Ok(())
}
