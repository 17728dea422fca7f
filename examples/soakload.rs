//! The soak's load generator (`bench/soak.sh`): checks every answer, not just counts them.
//!
//! Reads a spec file, one query a line: `NAME TYPE RCODE ALT [| ALT]...`, where an ALT is
//! the answer section it may get, as comma-separated `TYPE=DATA` items in any order (`-`
//! for an empty section). Every reply must match its query's RCODE and one ALT exactly;
//! the count of replies per ALT is printed, which shows reloads and health flaps at work.
//!
//! `max` keeps WINDOW queries in flight (closed loop) and prints the answered rate; `run`
//! sends at a fixed rate (open loop) and prints sent, answered, lost (no reply within
//! TIMEOUT), wrong, late. With `--flap ADDR --flaps N`, a thread holds a TCP listener on
//! ADDR and closes and reopens it N times, evenly over the run (a health target that fails
//! and recovers); `--steady ADDR` holds another listener open throughout (a target that
//! stays up). Loopback only; bounded in time (1 hour) and rate.
//!
//! ```text
//! soakload max --server 127.0.0.1:5353 --spec FILE --seconds 10 --window 64
//! soakload run --server 127.0.0.1:5353 --spec FILE --qps 20000 --seconds 600 \
//!              --flap 127.0.0.21:39500 --flaps 1000
//! ```

// A load generator measures wall time by design.
#![allow(clippy::disallowed_methods)]

#[path = "soakload/spec.rs"]
mod spec;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const MAX_SECONDS: f64 = 3600.0;
const MAX_QPS: u64 = 400_000;
/// Sockets used in turn: each has its own 65 536 query IDs.
const SOCKETS: usize = 16;
const SLOTS: usize = SOCKETS << 16;
/// Most queries sent in one go before reading replies (open loop, catching up).
const BURST: u64 = 256;

struct Opts {
    mode: String,
    server: SocketAddr,
    spec: String,
    qps: u64,
    seconds: f64,
    window: usize,
    timeout: Duration,
    flap: Option<SocketAddr>,
    flaps: u64,
    steady: Option<SocketAddr>,
}

fn parse_args() -> anyhow::Result<Opts> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().context("usage: soakload max|run [options]")?;
    let mut o = Opts {
        mode,
        server: "127.0.0.1:5353".parse()?,
        spec: String::new(),
        qps: 10_000,
        seconds: 10.0,
        window: 64,
        timeout: Duration::from_secs(2),
        flap: None,
        flaps: 0,
        steady: None,
    };
    while let Some(k) = args.next() {
        let v = args.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--server" => o.server = v.parse()?,
            "--spec" => o.spec = v,
            "--qps" => o.qps = v.parse()?,
            "--seconds" => o.seconds = v.parse()?,
            "--window" => o.window = v.parse()?,
            "--timeout-ms" => o.timeout = Duration::from_millis(v.parse()?),
            "--flap" => o.flap = Some(v.parse()?),
            "--flaps" => o.flaps = v.parse()?,
            "--steady" => o.steady = Some(v.parse()?),
            _ => bail!("unknown option {k}"),
        }
    }
    for a in std::iter::once(o.server).chain(o.flap).chain(o.steady) {
        if !a.ip().is_loopback() {
            bail!("{a}: soakload uses loopback addresses only");
        }
    }
    if !(o.seconds > 0.0 && o.seconds <= MAX_SECONDS) {
        bail!("--seconds must be in (0, {MAX_SECONDS}]");
    }
    if o.qps == 0 || o.qps > MAX_QPS || o.window == 0 || o.window > 4096 {
        bail!("--qps must be in 1..={MAX_QPS}, --window in 1..=4096");
    }
    // A slot is reused after SLOTS queries: its query must have timed out by then.
    if o.qps as f64 * o.timeout.as_secs_f64() >= SLOTS as f64 / 2.0 {
        bail!("--qps x timeout must stay under {} queries", SLOTS / 2);
    }
    Ok(o)
}

/// One query in flight.
#[derive(Clone, Copy)]
struct Slot {
    sent: Option<Instant>,
    query: u32,
}

/// Counters of a run.
#[derive(Default)]
struct Tally {
    sent: u64,
    answered: u64,
    wrong: u64,
    lost: u64,
    late: u64,
    shown: u32,
    /// Lost queries by the second they were sent in.
    lost_at: Vec<u64>,
    /// Replies per query and per ALT.
    per_alt: Vec<Vec<u64>>,
}

struct Gen {
    socks: Vec<UdpSocket>,
    spec: spec::Spec,
    slots: Vec<Slot>,
    next: u64,
    start: Instant,
    timeout: Duration,
    t: Tally,
    buf: Vec<u8>,
}

impl Gen {
    fn new(o: &Opts, spec: spec::Spec) -> anyhow::Result<Gen> {
        let mut socks = Vec::new();
        for _ in 0..SOCKETS {
            let s2 = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            // Above net.core.rmem_max when root (SO_RCVBUFFORCE): a stall of this thread
            // must not drop replies here.
            if meridian::dns::udp::force_recv_buffer(&s2, 64 << 20).is_err() {
                s2.set_recv_buffer_size(8 << 20)?;
            }
            s2.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
            let s: UdpSocket = s2.into();
            s.connect(o.server)?;
            s.set_nonblocking(true)?;
            socks.push(s);
        }
        let per_alt = spec.queries.iter().map(|q| vec![0; q.alts.len()]).collect();
        Ok(Gen {
            socks,
            spec,
            slots: vec![
                Slot {
                    sent: None,
                    query: 0
                };
                SLOTS
            ],
            next: 0,
            start: Instant::now(),
            timeout: o.timeout,
            t: Tally {
                per_alt,
                ..Tally::default()
            },
            buf: vec![0; 4096],
        })
    }

    /// Sends the next query (the spec's lines in turn).
    fn send(&mut self, now: Instant) {
        let slot = (self.next % SLOTS as u64) as usize;
        let query = (self.next % self.spec.queries.len() as u64) as u32;
        self.next += 1;
        if self.slots[slot].sent.take().is_some() {
            self.t.lost += 1; // not expired by sweep: cannot happen within the rate bound
        }
        let q = &self.spec.queries[query as usize];
        let mut wire = q.wire.clone();
        wire[..2].copy_from_slice(&((slot & 0xFFFF) as u16).to_be_bytes());
        let sock = &self.socks[slot >> 16];
        self.t.sent += 1;
        if sock.send(&wire).is_ok() {
            self.slots[slot] = Slot {
                sent: Some(now),
                query,
            };
        } else {
            self.t.lost += 1;
        }
    }

    /// Reads every reply waiting; returns how many.
    fn receive(&mut self) -> u64 {
        let mut n = 0;
        for s in 0..SOCKETS {
            while let Ok(len) = self.socks[s].recv(&mut self.buf) {
                n += 1;
                let Some(id) = self.buf.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
                    self.t.wrong += 1;
                    continue;
                };
                let slot = (s << 16) | usize::from(id);
                let Some(_) = self.slots[slot].sent.take() else {
                    self.t.late += 1; // already counted lost, or a duplicate
                    continue;
                };
                self.t.answered += 1;
                let qi = self.slots[slot].query as usize;
                let q = &self.spec.queries[qi];
                match spec::check(q, &self.buf[..len]) {
                    Ok(alt) => self.t.per_alt[qi][alt] += 1,
                    Err(why) => {
                        self.t.wrong += 1;
                        if self.t.shown < 10 {
                            self.t.shown += 1;
                            eprintln!("wrong answer for {}: {why}", q.line);
                        }
                    }
                }
            }
        }
        n
    }

    /// Counts queries unanswered for longer than the timeout as lost.
    fn sweep(&mut self, now: Instant) {
        for s in self.slots.iter_mut() {
            if let Some(t) = s.sent.filter(|&t| now.duration_since(t) > self.timeout) {
                s.sent = None;
                self.t.lost += 1;
                let second = t.duration_since(self.start).as_secs() as usize;
                if self.t.lost_at.len() <= second {
                    self.t.lost_at.resize(second + 1, 0);
                }
                self.t.lost_at[second] += 1;
            }
        }
    }

    fn in_flight(&self) -> u64 {
        self.t.sent - self.t.answered - self.t.lost
    }
}

/// Holds a listener on `addr`, closing and reopening it `flaps` times over `seconds`.
/// `steady`, if any, is held open throughout.
fn flapper(
    addr: Option<SocketAddr>,
    steady: Option<SocketAddr>,
    flaps: u64,
    seconds: f64,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) {
    let steady = steady.and_then(|a| TcpListener::bind(a).ok());
    if let Some(l) = &steady {
        let _ = l.set_nonblocking(true);
    }
    let period = Duration::from_secs_f64(seconds / (flaps.max(1) as f64 + 1.0));
    let start = Instant::now();
    let mut listener: Option<TcpListener> = None;
    let mut open = true;
    let mut toggled = 0u64;
    while !stop.load(Ordering::Relaxed) && start.elapsed().as_secs_f64() < MAX_SECONDS {
        if let (true, None, Some(addr)) = (open, &listener, addr) {
            listener = TcpListener::bind(addr).ok();
            if let Some(l) = &listener {
                let _ = l.set_nonblocking(true);
            }
        }
        for l in listener.iter().chain(&steady) {
            while let Ok((c, _)) = l.accept() {
                drop(c);
            }
        }
        let due = period.mul_f64((toggled + 1) as f64);
        if toggled < flaps && start.elapsed() >= due {
            open = !open;
            if !open {
                listener = None;
            }
            toggled += 1;
            done.store(toggled, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() -> anyhow::Result<()> {
    let o = parse_args()?;
    let spec = spec::Spec::read(&o.spec)?;
    let mut g = Gen::new(&o, spec)?;
    let limit = Duration::from_secs_f64(o.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let flapped = Arc::new(AtomicU64::new(0));
    let flap_thread = (o.flap.is_some() || o.steady.is_some()).then(|| {
        let (stop, done, s) = (stop.clone(), flapped.clone(), o.seconds);
        let (addr, n, st) = (o.flap, o.flaps, o.steady);
        std::thread::spawn(move || flapper(addr, st, n, s, stop, done))
    });
    if flap_thread.is_some() {
        // Give the health checks time to see the listeners up (rise) before the load.
        std::thread::sleep(Duration::from_secs(1));
    }
    let start = Instant::now();
    g.start = start;
    let mut last_sweep = start;
    let mut behind = false;
    loop {
        let now = Instant::now();
        let elapsed = now.duration_since(start);
        if elapsed >= limit {
            break;
        }
        match o.mode.as_str() {
            "max" => {
                while g.in_flight() < o.window as u64 {
                    g.send(now);
                }
            }
            "run" => {
                // After a stall of this thread (a busy machine), catch up in bursts of at
                // most BURST with reads in between: sending the whole backlog first let
                // its replies overflow this side's receive buffers.
                let due = (elapsed.as_secs_f64() * o.qps as f64) as u64;
                let until = due.min(g.t.sent + BURST);
                while g.t.sent < until {
                    g.send(now);
                }
                behind = g.t.sent < due;
            }
            m => bail!("unknown mode {m} (max or run)"),
        }
        if g.receive() == 0 && !behind {
            std::thread::sleep(Duration::from_micros(50));
        }
        if now.duration_since(last_sweep) > Duration::from_millis(100) {
            g.sweep(now);
            last_sweep = now;
        }
    }
    let send_time = start.elapsed().as_secs_f64();
    // Wait for the replies still due, then count the rest as lost.
    let drain = Instant::now();
    while g.in_flight() > 0 && drain.elapsed() < o.timeout {
        if g.receive() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    g.sweep(Instant::now() + o.timeout * 2);
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = flap_thread {
        t.join().map_err(|_| anyhow::anyhow!("flapper panicked"))?;
    }
    let t = &g.t;
    println!(
        "soakload {}: sent={} answered={} lost={} wrong={} late={} seconds={send_time:.1} qps={:.0} flaps_done={}",
        o.mode,
        t.sent,
        t.answered,
        t.lost,
        t.wrong,
        t.late,
        t.answered as f64 / send_time,
        flapped.load(Ordering::Relaxed)
    );
    let lossy: Vec<(usize, u64)> = t
        .lost_at
        .iter()
        .copied()
        .enumerate()
        .filter(|x| x.1 > 0)
        .collect();
    if let Some(worst) = lossy.iter().max_by_key(|x| x.1) {
        println!(
            "  losses in {} of {:.0} seconds; worst: {} lost in second {}",
            lossy.len(),
            send_time.ceil(),
            worst.1,
            worst.0
        );
    }
    for (q, counts) in g.spec.queries.iter().zip(&t.per_alt) {
        let c: Vec<String> = counts.iter().map(u64::to_string).collect();
        println!("  {:<40} per alternative: {}", q.line, c.join(" | "));
    }
    Ok(())
}
