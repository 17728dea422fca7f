//! Rendezvous (highest random weight) hashing of client prefixes onto sites.
//!
//! Every site gets a score per client prefix from a fixed hash of (prefix, site name) and
//! its weight; the client goes to the usable site with the highest score. Weighted HRW
//! (Schindelhauer and Schomaker, "Weighted distributed hash tables", 2005): with
//! `u` uniform in (0, 1) from the hash, the score `w / -ln(u)` is the inverse of an
//! exponential variable of rate `w`, so a site wins a share `w / sum(w)` of the prefixes.
//! Because scores do not depend on which other sites exist or are usable:
//!
//! - a site that becomes unusable loses exactly its own clients, and each goes to the site
//!   with its next-highest score, so they spread over the others in proportion to weight;
//! - a site that returns takes back exactly the clients it had;
//! - adding or removing a site from the configuration moves only that site's share.
//!
//! The hash is fixed (splitmix64 over the masked prefix and an FNV-1a hash of the site
//! name), so answers are the same across restarts and across the nodes of a cluster.

use std::net::IpAddr;

/// FNV-1a (64 bit) of a site name: the site's key, stable across loads and nodes.
pub(super) fn name_key(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64's finaliser: every input bit affects every output bit.
#[inline]
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A fixed (restart-stable) hash of the client's address masked to `len` bits.
pub(super) fn prefix_hash(client: IpAddr, len: u8) -> u64 {
    let (bits, width) = match client {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (u128::from(a), 128u32),
    };
    let host = width.saturating_sub(u32::from(len));
    let masked = if host >= 128 { 0 } else { bits >> host << host };
    mix((masked as u64) ^ ((masked >> 64) as u64).rotate_left(29) ^ u64::from(len) << 56)
}

/// The score of a site with key `site_key` and weight `weight` for the client prefix whose
/// [`prefix_hash`] is `prefix`. Weight 0 scores 0 and never wins.
#[inline]
pub(super) fn score(prefix: u64, site_key: u64, weight: u32) -> f64 {
    if weight == 0 {
        return 0.0;
    }
    let h = mix(prefix ^ mix(site_key));
    // 53 random bits, centred in their interval: u is in (0, 1), so ln(u) < 0.
    let u = ((h >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    f64::from(weight) / -u.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_weights_and_are_stable() {
        let (a, b) = (name_key("hq"), name_key("dr"));
        assert_ne!(a, b);
        // The published FNV-1a test vector: the key is the same on every build and node.
        assert_eq!(name_key("a"), 0xaf63_dc4c_8601_ec8c);
        let mut wins = 0u32;
        let n = 20_000u32;
        for i in 0..n {
            let p = prefix_hash(std::net::Ipv4Addr::from(i << 8).into(), 24);
            assert_eq!(score(p, a, 0), 0.0);
            assert!(score(p, a, 1) > 0.0);
            wins += u32::from(score(p, a, 3) > score(p, b, 1));
        }
        let share = f64::from(wins) / f64::from(n);
        assert!((0.73..0.77).contains(&share), "3:1 gives {share}");
        // The hash of a prefix ignores the host bits.
        let x = prefix_hash("10.1.2.3".parse().unwrap(), 24);
        assert_eq!(x, prefix_hash("10.1.2.200".parse().unwrap(), 24));
        assert_ne!(x, prefix_hash("10.1.3.3".parse().unwrap(), 24));
    }
}
