//! Layers: sorted, disjoint address segments with a value, one per data source (city
//! database, ASN database, ISP CIDR lists, route CIDRs), and the sweep that overlays them.
//!
//! Addresses are `u128` in both families; an IPv4 layer simply never passes `u32::MAX`.

use std::net::IpAddr;

use ipnet::IpNet;

/// `[start, end]` inclusive with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seg {
    pub start: u128,
    pub end: u128,
    pub val: u32,
}

/// "No value here" in an overlay.
pub const NONE: u32 = u32::MAX;

/// Last address of a family.
pub fn family_max(v6: bool) -> u128 {
    if v6 { u128::MAX } else { u128::from(u32::MAX) }
}

/// `(is_v6, first, last)` of a network.
pub fn bounds(net: &IpNet) -> (bool, u128, u128) {
    let net = net.trunc();
    let (v6, bits, width) = match net.addr() {
        IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (true, u128::from(a), 128u32),
    };
    let host = width - u32::from(net.prefix_len());
    let last = if host == 128 {
        u128::MAX
    } else {
        bits | ((1u128 << host) - 1)
    };
    (v6, bits, last)
}

/// Flatten possibly nested networks of one family into disjoint segments where the most
/// specific network wins. Of identical networks, the one with the lowest value wins.
pub fn nest(mut nets: Vec<(u128, u128, u32)>) -> Vec<Seg> {
    // Outer before inner: by start, then widest first; on a tie the winner goes last.
    nets.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    let mut out: Vec<Seg> = Vec::new();
    let mut stack: Vec<(u128, u32)> = Vec::new(); // (end, val) of open networks
    // First address not yet emitted; None once the end of the space is passed.
    let mut pos: Option<u128> = Some(0);
    let emit = |out: &mut Vec<Seg>, start: Option<u128>, end: u128, val: u32| {
        if let Some(start) = start.filter(|&s| s <= end) {
            out.push(Seg { start, end, val });
        }
    };
    for (start, end, val) in nets {
        // Close networks that end before this one starts.
        while let Some(&(top_end, top_val)) = stack.last() {
            if top_end >= start {
                break;
            }
            emit(&mut out, pos, top_end, top_val);
            stack.pop();
            pos = top_end.checked_add(1);
        }
        if let (Some(&(_, top_val)), Some(_)) = (stack.last(), start.checked_sub(1)) {
            emit(&mut out, pos, start - 1, top_val);
        }
        stack.push((end, val));
        pos = Some(start);
    }
    while let Some((top_end, top_val)) = stack.pop() {
        emit(&mut out, pos, top_end, top_val);
        pos = top_end.checked_add(1);
    }
    out.retain(|s| s.start <= s.end);
    out
}

/// Overlay `K` layers over `[0, max]`: contiguous runs, each with the value of every layer
/// (`NONE` where a layer has no segment).
pub fn overlay<const K: usize>(layers: [&[Seg]; K], max: u128) -> Vec<(u128, u128, [u32; K])> {
    let mut idx = [0usize; K];
    let mut out = Vec::new();
    let mut pos: u128 = 0;
    loop {
        let mut vals = [NONE; K];
        let mut end = max;
        for k in 0..K {
            let layer = layers[k];
            while idx[k] < layer.len() && layer[idx[k]].end < pos {
                idx[k] += 1;
            }
            if let Some(s) = layer.get(idx[k]) {
                if s.start <= pos {
                    vals[k] = s.val;
                    end = end.min(s.end);
                } else {
                    end = end.min(s.start - 1);
                }
            }
        }
        out.push((pos, end, vals));
        if end >= max {
            break;
        }
        pos = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> (u128, u128) {
        let (_, a, b) = bounds(&s.parse().unwrap());
        (a, b)
    }

    #[test]
    fn nest_most_specific_wins() {
        let mk = |s: &str, v: u32| {
            let (a, b) = n(s);
            (a, b, v)
        };
        let segs = nest(vec![
            mk("10.0.0.0/8", 1),
            mk("10.1.0.0/16", 2),
            mk("10.1.2.0/24", 3),
            mk("10.200.0.0/16", 4),
            mk("10.1.0.0/16", 5), // identical to value 2: lower value wins
            mk("192.0.2.0/24", 6),
        ]);
        let want = vec![
            ("10.0.0.0", "10.0.255.255", 1),
            ("10.1.0.0", "10.1.1.255", 2),
            ("10.1.2.0", "10.1.2.255", 3),
            ("10.1.3.0", "10.1.255.255", 2),
            ("10.2.0.0", "10.199.255.255", 1),
            ("10.200.0.0", "10.200.255.255", 4),
            ("10.201.0.0", "10.255.255.255", 1),
            ("192.0.2.0", "192.0.2.255", 6),
        ];
        let ip = |s: &str| u128::from(u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()));
        let want: Vec<Seg> = want
            .into_iter()
            .map(|(a, b, v)| Seg {
                start: ip(a),
                end: ip(b),
                val: v,
            })
            .collect();
        assert_eq!(segs, want);
    }

    #[test]
    fn nest_handles_the_end_of_the_space() {
        let (a, b) = n("::/0");
        let (c, d) = n("ffff::/16");
        let segs = nest(vec![(a, b, 1), (c, d, 2)]);
        assert_eq!(
            segs,
            vec![
                Seg {
                    start: 0,
                    end: c - 1,
                    val: 1
                },
                Seg {
                    start: c,
                    end: u128::MAX,
                    val: 2
                },
            ]
        );
    }

    #[test]
    fn overlay_splits_at_every_boundary() {
        let a = [
            Seg {
                start: 0,
                end: 9,
                val: 1,
            },
            Seg {
                start: 20,
                end: 29,
                val: 2,
            },
        ];
        let b = [Seg {
            start: 5,
            end: 24,
            val: 7,
        }];
        let got = overlay([&a[..], &b[..]], 99);
        assert_eq!(
            got,
            vec![
                (0, 4, [1, NONE]),
                (5, 9, [1, 7]),
                (10, 19, [NONE, 7]),
                (20, 24, [2, 7]),
                (25, 29, [2, NONE]),
                (30, 99, [NONE, NONE]),
            ]
        );
    }
}
