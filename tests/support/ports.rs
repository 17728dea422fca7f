//! Ports for servers a test starts on loopback. Asking the kernel for an ephemeral port and
//! releasing it can hand the same port out twice in one test (the kernel reuses it at once)
//! and races with every outgoing socket on the host. So ports are picked at random from
//! 20000-32767, below the kernel's ephemeral range (32768-60999 by default, never used for
//! outgoing sockets), never twice in one process, and checked free for UDP and TCP on every
//! address asked for.

#![allow(dead_code)]

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static DRAWS: AtomicU64 = AtomicU64::new(0);

fn draw() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ DRAWS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    20000 + (x % 12768) as u16
}

fn free_on_all(port: u16, addrs: &[IpAddr]) -> bool {
    let mut held = Vec::new();
    for &a in addrs {
        let at = SocketAddr::new(a, port);
        match (TcpListener::bind(at), UdpSocket::bind(at)) {
            (Ok(t), Ok(u)) => held.push((t, u)),
            _ => return false,
        }
    }
    true
}

/// A port free for UDP and TCP on every address of `addrs` (at the time of asking), never
/// one this process was given before.
pub fn free_port(addrs: &[IpAddr]) -> u16 {
    for _ in 0..500 {
        let port = draw();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        let given = given.get_or_insert_with(HashSet::new);
        if given.contains(&port) || !free_on_all(port, addrs) {
            continue;
        }
        given.insert(port);
        return port;
    }
    panic!("no port free on {addrs:?} in 20000-32767");
}

/// [`free_port`] on 127.0.0.1.
pub fn free_port_lo() -> u16 {
    free_port(&[IpAddr::from([127, 0, 0, 1])])
}
