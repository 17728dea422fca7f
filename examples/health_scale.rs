//! Scale helper for `bench/health_scale.sh`: many TCP targets on loopback, and the health
//! scheduler probing them, as two separate processes so the prober can be measured alone.
//!
//! ```text
//! health_scale listen COUNT ADDRS BASE_PORT            # COUNT listeners on 127.0.1.1..ADDRS
//! health_scale probe  COUNT ADDRS BASE_PORT INTERVAL_MS SECONDS
//! ```
//! Target i lives on 127.0.1.(1 + i / per_addr), port BASE_PORT + i % per_addr. The prober
//! waits until every target is up, then measures its own CPU time and RSS for SECONDS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use meridian::config::{Check, CheckKind, StartState};
use meridian::health::{ProbeKey, Scheduler, SchedulerOptions, Status, TargetSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn target(i: usize, count: usize, addrs: usize, base: u16) -> anyhow::Result<SocketAddr> {
    let per_addr = count.div_ceil(addrs);
    let host = u8::try_from(1 + i / per_addr).context("too many addresses (max 254)")?;
    let port = base
        .checked_add(u16::try_from(i % per_addr)?)
        .context("port overflow")?;
    Ok(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, 1, host)),
        port,
    ))
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> anyhow::Result<T> {
    args.get(i)
        .with_context(|| format!("missing {name}"))?
        .parse()
        .map_err(|_| anyhow::anyhow!("bad {name}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // RUST_LOG=info shows every state change on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let count: usize = arg(&args, 2, "COUNT")?;
    let addrs: usize = arg(&args, 3, "ADDRS")?;
    let base: u16 = arg(&args, 4, "BASE_PORT")?;
    match mode {
        "listen" => listen(count, addrs, base).await,
        "probe" => {
            let interval: u64 = arg(&args, 5, "INTERVAL_MS")?;
            let seconds: u64 = arg(&args, 6, "SECONDS")?;
            probe(count, addrs, base, interval, seconds).await
        }
        _ => bail!("usage: health_scale listen|probe COUNT ADDRS BASE_PORT [INTERVAL_MS SECONDS]"),
    }
}

async fn listen(count: usize, addrs: usize, base: u16) -> anyhow::Result<()> {
    for i in 0..count {
        let addr = target(i, count, addrs, base)?;
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.set_reuseaddr(true)?;
        sock.bind(addr).with_context(|| format!("bind {addr}"))?;
        let listener = sock.listen(128)?;
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                drop(s);
            }
        });
    }
    println!("listening {count}");
    std::future::pending::<()>().await;
    Ok(())
}

/// (utime, stime) in seconds, and VmRSS in KiB, of this process.
fn usage() -> anyhow::Result<(f64, f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    let utime: u64 = fields.get(11).context("utime")?.parse()?;
    let stime: u64 = fields.get(12).context("stime")?.parse()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmRSS")?
        .parse()?;
    Ok((utime as f64 / ticks, stime as f64 / ticks, rss))
}

async fn probe(
    count: usize,
    addrs: usize,
    base: u16,
    interval_ms: u64,
    seconds: u64,
) -> anyhow::Result<()> {
    let check = Check {
        kind: CheckKind::Tcp,
        port: None,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(interval_ms / 2),
        rise: 2,
        fall: 2,
        start: StartState::Down,
    };
    let keys: Vec<ProbeKey> = (0..count)
        .map(|i| Ok(ProbeKey::for_real(target(i, count, addrs, base)?, &check)))
        .collect::<anyhow::Result<_>>()?;
    let set: TargetSet = keys.iter().cloned().collect();
    let (scheduler, handle) = Scheduler::new(set, SchedulerOptions::default())?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(scheduler.run(shutdown.clone()));

    let started = Instant::now();
    let mut rx = handle.subscribe();
    let all_up = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let view = rx.borrow_and_update().clone();
            let up = view.iter().filter(|(_, s)| s.state == Status::Up).count();
            if up == count {
                return Ok::<_, anyhow::Error>(());
            }
            rx.changed().await?;
        }
    })
    .await;
    let view = handle.view();
    let up = view.iter().filter(|(_, s)| s.state == Status::Up).count();
    if all_up.is_err() {
        bail!("only {up} of {count} targets up after 30 s");
    }
    println!(
        "all {count} up after {:.2}s (generation {})",
        started.elapsed().as_secs_f64(),
        view.generation()
    );

    let (user0, sys0, _) = usage()?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (user1, sys1, rss) = usage()?;
    let wall = t0.elapsed().as_secs_f64();
    let view = handle.view();
    let down = view.iter().filter(|(_, s)| s.state != Status::Up).count();
    println!(
        "steady {wall:.1}s: cpu {:.1}% of one core (user {:.1}%, system {:.1}%), rss {:.1} MiB, \
         not-up {down}, generation {}",
        100.0 * (user1 - user0 + sys1 - sys0) / wall,
        100.0 * (user1 - user0) / wall,
        100.0 * (sys1 - sys0) / wall,
        rss as f64 / 1024.0,
        view.generation()
    );
    shutdown.cancel();
    task.await??;
    Ok(())
}
