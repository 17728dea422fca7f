//! A small DNS load generator for Meridian's benchmarks (`bench/geo-vs-gdnsd.sh`).
//!
//! dnsperf adds one fixed EDNS option to every query, so a run with EDNS Client Subnet
//! measures one client network only, i.e. a cache. This tool pre-builds one query per client
//! subnet (read from a file, one `a.b.c.d/len` or IPv6 CIDR a line) and sends them round
//! robin at a fixed rate, bounded in count and time, to a server on loopback only, counting
//! the answers. `compare` asks two servers the same questions and counts the subnets whose
//! answers (rcode, sorted answer records) or ECS scopes differ.
//!
//! `cost` answers the same pre-built queries in process (no sockets) with Meridian's answer
//! core for a configuration, and prints the thread CPU nanoseconds per answer: the floor
//! under what the server spends per query outside the kernel.
//!
//! ```text
//! dnsload cost    --config meridian.toml --subnets FILE --count 2000000
//! dnsload load    --server 127.0.0.1:5353 --name www.example.test --subnets FILE --qps 50000 --seconds 10
//! dnsload compare --server 127.0.0.1:5353 --other 127.0.0.1:5354 --name www.example.test --subnets FILE --sample 2000
//! ```

// A load generator is all shell: it measures wall time by design.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ipnet::IpNet;

const MAX_SECONDS: f64 = 60.0;
const MAX_QUERIES: u64 = 10_000_000;

struct Opts {
    mode: String,
    server: SocketAddr,
    other: Option<SocketAddr>,
    name: String,
    qtype: u16,
    subnets: String,
    qps: u64,
    seconds: f64,
    count: u64,
    sample: usize,
    show: usize,
    config: Option<String>,
}

fn parse_args() -> anyhow::Result<Opts> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .context("usage: dnsload load|compare [options]")?;
    let mut o = Opts {
        mode,
        server: "127.0.0.1:5353".parse()?,
        other: None,
        name: "www.example.test".into(),
        qtype: 1,
        subnets: String::new(),
        qps: 50_000,
        seconds: 10.0,
        count: MAX_QUERIES,
        sample: 2000,
        show: 5,
        config: None,
    };
    while let Some(k) = args.next() {
        let v = args.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--server" => o.server = v.parse()?,
            "--other" => o.other = Some(v.parse()?),
            "--name" => o.name = v,
            "--type" => {
                o.qtype = match v.to_ascii_uppercase().as_str() {
                    "A" => 1,
                    "AAAA" => 28,
                    _ => bail!("--type A or AAAA"),
                }
            }
            "--subnets" => o.subnets = v,
            "--qps" => o.qps = v.parse()?,
            "--seconds" => o.seconds = v.parse()?,
            "--count" => o.count = v.parse()?,
            "--sample" => o.sample = v.parse()?,
            "--show" => o.show = v.parse()?,
            "--config" => o.config = Some(v),
            _ => bail!("unknown option {k}"),
        }
    }
    for a in std::iter::once(o.server).chain(o.other) {
        if !a.ip().is_loopback() {
            bail!("{a}: dnsload sends to loopback addresses only");
        }
    }
    if !(o.seconds > 0.0 && o.seconds <= MAX_SECONDS) {
        bail!("--seconds must be in (0, {MAX_SECONDS}]");
    }
    o.count = o.count.min(MAX_QUERIES);
    Ok(o)
}

fn read_subnets(path: &str) -> anyhow::Result<Vec<IpNet>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{path}: cannot read"))?;
    let mut nets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let net: IpNet = line
            .parse()
            .with_context(|| format!("{path}:{}: not a CIDR: {line:?}", i + 1))?;
        nets.push(net.trunc());
    }
    if nets.is_empty() {
        bail!("{path}: no subnets");
    }
    Ok(nets)
}

/// One query with an OPT record carrying ECS for `net` (address cut to the prefix bytes).
fn build_query(id: u16, name: &str, qtype: u16, net: IpNet) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    let (family, addr): (u16, Vec<u8>) = match net.addr() {
        IpAddr::V4(a) => (1, a.octets().to_vec()),
        IpAddr::V6(a) => (2, a.octets().to_vec()),
    };
    let plen = net.prefix_len();
    let nbytes = usize::from(plen).div_ceil(8);
    let opt_len = 4 + nbytes as u16;
    q.push(0); // root owner
    q.extend_from_slice(&41u16.to_be_bytes());
    q.extend_from_slice(&1232u16.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0]);
    q.extend_from_slice(&(4 + opt_len).to_be_bytes());
    q.extend_from_slice(&8u16.to_be_bytes());
    q.extend_from_slice(&opt_len.to_be_bytes());
    q.extend_from_slice(&family.to_be_bytes());
    q.push(plen);
    q.push(0);
    q.extend_from_slice(&addr[..nbytes]);
    q
}

/// What a response said, reduced to what two servers must agree on.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    id: u16,
    rcode: u8,
    answers: Vec<String>,
    scope: Option<u8>,
}

fn skip_name(m: &[u8], mut p: usize) -> Option<usize> {
    loop {
        let l = *m.get(p)?;
        if l & 0xC0 == 0xC0 {
            return Some(p + 2);
        }
        if l == 0 {
            return Some(p + 1);
        }
        p += 1 + usize::from(l);
    }
}

fn u16_at(m: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(p)?, *m.get(p + 1)?]))
}

fn parse_reply(m: &[u8]) -> Option<Reply> {
    let id = u16_at(m, 0)?;
    let rcode = m.get(3)? & 0x0F;
    let counts = [u16_at(m, 4)?, u16_at(m, 6)?, u16_at(m, 8)?, u16_at(m, 10)?];
    let mut p = 12;
    for _ in 0..counts[0] {
        p = skip_name(m, p)? + 4;
    }
    let mut answers = Vec::new();
    let mut scope = None;
    let total = counts[1] + counts[2] + counts[3];
    for i in 0..total {
        p = skip_name(m, p)?;
        let rtype = u16_at(m, p)?;
        let ttl = u32::from_be_bytes(m.get(p + 4..p + 8)?.try_into().ok()?);
        let rdlen = usize::from(u16_at(m, p + 8)?);
        let rd = m.get(p + 10..p + 10 + rdlen)?;
        if i < counts[1] {
            let data = match (rtype, rdlen) {
                (1, 4) => IpAddr::from(<[u8; 4]>::try_from(rd).ok()?).to_string(),
                (28, 16) => IpAddr::from(<[u8; 16]>::try_from(rd).ok()?).to_string(),
                _ => format!("{rd:02x?}"),
            };
            answers.push(format!("{rtype} {ttl} {data}"));
        } else if rtype == 41 {
            let mut o = 0;
            while o + 4 <= rd.len() {
                let code = u16_at(rd, o)?;
                let len = usize::from(u16_at(rd, o + 2)?);
                if code == 8 && len >= 4 {
                    scope = Some(*rd.get(o + 7)?);
                }
                o += 4 + len;
            }
        }
        p += 10 + rdlen;
    }
    answers.sort();
    Some(Reply {
        id,
        rcode,
        answers,
        scope,
    })
}

fn ask(sock: &UdpSocket, to: SocketAddr, q: &[u8]) -> anyhow::Result<Reply> {
    let mut buf = [0u8; 4096];
    let id = u16_at(q, 0).unwrap_or(0);
    for _ in 0..3 {
        sock.send_to(q, to)?;
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == to => {
                    if let Some(r) = parse_reply(&buf[..n]).filter(|r| r.id == id) {
                        return Ok(r);
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    bail!("{to}: no answer")
}

fn compare(o: &Opts, nets: &[IpNet]) -> anyhow::Result<()> {
    let other = o.other.context("compare needs --other")?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let step = (nets.len() / o.sample.max(1)).max(1);
    let (mut n, mut answer_diff, mut scope_diff, mut shown) = (0usize, 0usize, 0usize, 0usize);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, net) in nets.iter().step_by(step).take(o.sample).enumerate() {
        let q = build_query(i as u16, &o.name, o.qtype, *net);
        let a = ask(&sock, o.server, &q)?;
        let b = ask(&sock, other, &q)?;
        n += 1;
        *seen.entry(a.answers.join(",")).or_default() += 1;
        let differs = (a.rcode, &a.answers) != (b.rcode, &b.answers);
        answer_diff += usize::from(differs);
        scope_diff += usize::from(a.scope != b.scope);
        if (differs || a.scope != b.scope) && shown < o.show {
            shown += 1;
            println!("  differ {net}: {a:?} vs {b:?}");
        }
    }
    println!("compared {n} subnets: answer mismatches={answer_diff} scope mismatches={scope_diff}");
    for (ans, c) in &seen {
        println!("  {c:6} x {ans}");
    }
    if answer_diff > 0 {
        std::process::exit(3);
    }
    Ok(())
}

fn load(o: &Opts, nets: &[IpNet]) -> anyhow::Result<()> {
    let queries: Vec<Vec<u8>> = nets
        .iter()
        .enumerate()
        .map(|(i, n)| build_query(i as u16, &o.name, o.qtype, *n))
        .collect();
    // A large receive buffer: answers must not be lost while the sender thread runs.
    let s2 = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    s2.set_recv_buffer_size(8 << 20)?;
    s2.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    let sock: UdpSocket = s2.into();
    sock.connect(o.server)?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let rx = sock.try_clone()?;
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let noerror = Arc::new(AtomicU64::new(0));
    let receiver = {
        let (done, answered, noerror) = (done.clone(), answered.clone(), noerror.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !done.load(Ordering::Relaxed) {
                match rx.recv(&mut buf) {
                    Ok(n) if n >= 12 => {
                        answered.fetch_add(1, Ordering::Relaxed);
                        let ancount = u16::from_be_bytes([buf[6], buf[7]]);
                        if buf[3] & 0x0F == 0 && ancount > 0 {
                            noerror.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
            }
        })
    };
    let start = Instant::now();
    let limit = Duration::from_secs_f64(o.seconds);
    let mut sent = 0u64;
    let mut send_errors = 0u64;
    let mut buf = Vec::with_capacity(128);
    loop {
        let elapsed = start.elapsed();
        if elapsed >= limit || sent >= o.count {
            break;
        }
        let due = ((elapsed.as_secs_f64() * o.qps as f64) as u64).min(o.count);
        while sent < due {
            let q = &queries[(sent % queries.len() as u64) as usize];
            buf.clear();
            buf.extend_from_slice(q);
            buf[..2].copy_from_slice(&(sent as u16).to_be_bytes());
            if sock.send(&buf).is_err() {
                send_errors += 1;
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let send_time = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::Relaxed);
    receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))?;
    let got = answered.load(Ordering::Relaxed);
    println!(
        "dnsload: subnets={} sent={sent} answered={got} noerror_with_answer={} lost={} send_errors={send_errors} seconds={send_time:.2} qps={:.0}",
        nets.len(),
        noerror.load(Ordering::Relaxed),
        sent.saturating_sub(got),
        got as f64 / send_time
    );
    Ok(())
}

/// CPU time of this thread (not wall time: other processes share the machine).
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Time Meridian's answer core on the pre-built queries, in process.
fn cost(o: &Opts, nets: &[IpNet]) -> anyhow::Result<()> {
    let path = o.config.as_deref().context("cost needs --config")?;
    let cfg = meridian::config::load(std::path::Path::new(path))?;
    let (snapshot, errors) = meridian::serve::build_snapshot(&cfg, None, None)?;
    if !errors.is_empty() {
        bail!("{path}: {} zone file(s) refused", errors.len());
    }
    let queries: Vec<Vec<u8>> = nets
        .iter()
        .enumerate()
        .map(|(i, n)| build_query(i as u16, &o.name, o.qtype, *n))
        .collect();
    let source: SocketAddr = "127.0.0.1:40000".parse()?;
    let mut out = Vec::with_capacity(65536);
    let count = o.count.min(MAX_QUERIES);
    let limit = Duration::from_secs_f64(o.seconds);
    let start = Instant::now();
    let cpu0 = thread_cpu_seconds();
    let mut done = 0u64;
    let mut bytes = 0usize;
    while done < count && start.elapsed() < limit {
        for q in queries.iter().take((count - done) as usize) {
            meridian::dns::answer::answer(
                &snapshot,
                q,
                source,
                meridian::dns::answer::Transport::Udp,
                &mut out,
            );
            bytes += out.len();
            done += 1;
        }
    }
    let secs = thread_cpu_seconds() - cpu0;
    println!(
        "cost: subnets={} answers={done} cpu_ns_per_answer={:.1} (mean reply {} bytes)",
        nets.len(),
        secs * 1e9 / done as f64,
        bytes / done.max(1) as usize
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let o = parse_args()?;
    let nets = read_subnets(&o.subnets)?;
    match o.mode.as_str() {
        "load" => load(&o, &nets),
        "compare" => compare(&o, &nets),
        "cost" => cost(&o, &nets),
        m => bail!("unknown mode {m} (load or compare)"),
    }
}
