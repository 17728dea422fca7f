//! Prefix tables: a partition of one address family into runs with a key each, stored as
//! the maximal aligned CIDR blocks of those runs.
//!
//! Because every run is split into its *maximal* aligned blocks, the block that contains an
//! address is the widest prefix around it inside which the key cannot change. That block's
//! length is exactly the ECS scope. A lookup is one binary search over block starts.

/// One run of a partition: `[start, end]` (inclusive) with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: u128,
    pub end: u128,
    pub key: u32,
}

/// Address bits of a table: `u32` for IPv4, `u128` for IPv6.
pub trait Bits: Copy + Ord + std::fmt::Debug {
    const WIDTH: u8;
    fn from_u128(v: u128) -> Self;
}

impl Bits for u32 {
    const WIDTH: u8 = 32;
    fn from_u128(v: u128) -> Self {
        // Callers only pass IPv4 runs, whose values fit.
        v as u32
    }
}

impl Bits for u128 {
    const WIDTH: u8 = 128;
    fn from_u128(v: u128) -> Self {
        v
    }
}

/// Blocks sorted by start, covering the whole family.
#[derive(Debug, Clone, Default)]
pub struct Table<B: Bits> {
    starts: Vec<B>,
    keys: Vec<u32>,
    lens: Vec<u8>,
}

impl<B: Bits> Table<B> {
    /// Build from runs that are sorted, contiguous and cover the family from 0 to its last
    /// address. Adjacent runs with the same key are merged first.
    pub fn from_runs(runs: impl IntoIterator<Item = Run>) -> Table<B> {
        let mut t = Table {
            starts: Vec::new(),
            keys: Vec::new(),
            lens: Vec::new(),
        };
        let mut cur: Option<Run> = None;
        for r in runs {
            match cur.as_mut() {
                Some(c) if c.key == r.key && c.end.checked_add(1) == Some(r.start) => c.end = r.end,
                _ => {
                    if let Some(c) = cur.take() {
                        t.push_run(c);
                    }
                    cur = Some(r);
                }
            }
        }
        if let Some(c) = cur {
            t.push_run(c);
        }
        t
    }

    fn push_run(&mut self, r: Run) {
        let width = u32::from(B::WIDTH);
        let mut s = r.start;
        loop {
            // Largest aligned block starting at `s` that does not pass `r.end`.
            let align = if s == 0 {
                width
            } else {
                s.trailing_zeros().min(width)
            };
            let span = r.end - s; // block of 2^k addresses fits if 2^k - 1 <= span
            let fit = if span == u128::MAX {
                128
            } else {
                127 - (span + 1).leading_zeros()
            };
            let k = align.min(fit).min(width);
            self.starts.push(B::from_u128(s));
            self.keys.push(r.key);
            self.lens.push((width - k) as u8);
            let size_minus_one = if k == 128 {
                u128::MAX
            } else {
                (1u128 << k) - 1
            };
            match s.checked_add(size_minus_one) {
                Some(last) if last < r.end => s = last + 1,
                _ => break,
            }
        }
    }

    /// The key and block prefix length for `addr`. Never allocates.
    #[inline]
    pub fn lookup(&self, addr: B) -> (u32, u8) {
        let i = self.starts.partition_point(|&s| s <= addr);
        match i.checked_sub(1) {
            Some(i) => (self.keys[i], self.lens[i]),
            // Only an empty table (never built from a full partition) gets here.
            None => (u32::MAX, 0),
        }
    }

    pub fn block_count(&self) -> usize {
        self.starts.len()
    }

    /// The blocks as `(start, prefix_len, key)`, for tests and diagnostics.
    pub fn blocks(&self) -> impl Iterator<Item = (B, u8, u32)> + '_ {
        (0..self.starts.len()).map(|i| (self.starts[i], self.lens[i], self.keys[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: u128, end: u128, key: u32) -> Run {
        Run { start, end, key }
    }

    #[test]
    fn whole_space_is_one_block() {
        let t4: Table<u32> = Table::from_runs([run(0, u32::MAX.into(), 7)]);
        assert_eq!(t4.blocks().collect::<Vec<_>>(), vec![(0, 0, 7)]);
        let t6: Table<u128> = Table::from_runs([run(0, u128::MAX, 7)]);
        assert_eq!(t6.blocks().collect::<Vec<_>>(), vec![(0, 0, 7)]);
        assert_eq!(t6.lookup(u128::MAX), (7, 0));
    }

    #[test]
    fn merges_equal_neighbours_and_splits_maximally() {
        let max = u128::from(u32::MAX);
        // [0, 0x0A00_0000) key 1; 10.0.0.0/9 key 2 (given as two halves); rest key 1.
        let t: Table<u32> = Table::from_runs([
            run(0, 0x09FF_FFFF, 1),
            run(0x0A00_0000, 0x0A3F_FFFF, 2),
            run(0x0A40_0000, 0x0A7F_FFFF, 2),
            run(0x0A80_0000, max, 1),
        ]);
        let cases = [
            (0x0A12_3456u32, 2u32, 9u8),
            (0x0900_0001, 1, 7), // 8.0.0.0/7 (8 and 9)
            (0x0800_0000, 1, 7), // 8.0.0.0/7 (8 and 9)
            (0x0A80_0000, 1, 9), // 10.128.0.0/9
            (0x0B00_0000, 1, 8), // 11.0.0.0/8
            (0x0C00_0000, 1, 6), // 12.0.0.0/6
            (0x8000_0000, 1, 1), // 128.0.0.0/1
            (0x0000_0001, 1, 5), // 0.0.0.0/5
            (0xFFFF_FFFF, 1, 1),
        ];
        for (addr, key, len) in cases {
            assert_eq!(t.lookup(addr), (key, len), "{addr:#x}");
        }
    }

    #[test]
    fn every_block_is_maximal_and_keys_cover() {
        // Brute force over an 8-bit-wide space embedded in IPv4: runs of varying length.
        let bounds = [0u128, 3, 4, 17, 64, 65, 200, 255];
        let mut runs = Vec::new();
        for (i, w) in bounds.windows(2).enumerate() {
            let end = if i + 2 == bounds.len() {
                w[1]
            } else {
                w[1] - 1
            };
            runs.push(run(w[0], end, (i % 3) as u32));
        }
        let last = runs.last().unwrap().end;
        runs.push(run(last + 1, u32::MAX.into(), 9));
        let t: Table<u32> = Table::from_runs(runs.clone());
        let key_at = |a: u128| {
            runs.iter()
                .find(|r| r.start <= a && a <= r.end)
                .unwrap()
                .key
        };
        for a in 0u32..256 {
            let (k, len) = t.lookup(a);
            assert_eq!(k, key_at(a.into()), "{a}");
            let host = 32 - u32::from(len);
            let start = u128::from(a) >> host << host;
            let end = start + (1u128 << host) - 1;
            assert!(
                (start..=end).all(|x| key_at(x) == k),
                "{a} block not uniform"
            );
            // The parent block must not be uniform.
            let ph = host + 1;
            let ps = u128::from(a) >> ph << ph;
            let pe = ps + (1u128 << ph) - 1;
            assert!(
                len == 0 || !(ps..=pe).all(|x| key_at(x) == k),
                "{a} not maximal"
            );
        }
    }
}
