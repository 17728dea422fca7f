//! Prefix tables: a partition of one address family into runs with a key each, stored as
//! the maximal aligned CIDR blocks of those runs.
//!
//! Because every run is split into its *maximal* aligned blocks, the block that contains an
//! address is the widest prefix around it inside which the key cannot change. That block's
//! length is exactly the ECS scope. A lookup is one binary search over block starts.
//!
//! Large tables also carry a direct index on the top 16 bits of the address. A slot that
//! lies inside one block holds that block's key and length itself (one memory access per
//! lookup); any other slot holds the range of blocks to search, which is short. A lookup
//! then touches one to three cache lines instead of one per halving step: with a GeoIP
//! table of tens of thousands of blocks, random clients and the kernel's network stack
//! running between queries, those misses were most of the lookup's cost.

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
    fn to_u128(self) -> u128;
    /// The top `bits` bits (1..=16) of the address, as an index.
    fn top(self, bits: u32) -> usize;
}

impl Bits for u32 {
    const WIDTH: u8 = 32;
    fn from_u128(v: u128) -> Self {
        // Callers only pass IPv4 runs, whose values fit.
        v as u32
    }
    fn to_u128(self) -> u128 {
        self.into()
    }
    #[inline]
    fn top(self, bits: u32) -> usize {
        (self >> (32 - bits)) as usize
    }
}

impl Bits for u128 {
    const WIDTH: u8 = 128;
    fn from_u128(v: u128) -> Self {
        v
    }
    fn to_u128(self) -> u128 {
        self
    }
    #[inline]
    fn top(self, bits: u32) -> usize {
        (self >> (128 - bits)) as usize
    }
}

/// Tables with fewer blocks are searched without an index.
const INDEX_MIN_BLOCKS: usize = 64;
/// Index bits: 2^16 slots of 8 bytes (512 KiB) for a large table.
const INDEX_BITS: u32 = 16;
/// An index slot inside one block: `DIRECT | len << 32 | key`; otherwise `hi << 32 | lo`,
/// the first and last block that overlap the slot (block counts stay below 2^31).
const DIRECT: u64 = 1 << 63;

/// Blocks sorted by start, covering the whole family.
#[derive(Debug, Clone, Default)]
pub struct Table<B: Bits> {
    starts: Vec<B>,
    /// Key and prefix length of each block, side by side (one cache line per lookup).
    meta: Vec<(u32, u8)>,
    /// One entry per value of the top [`INDEX_BITS`] bits (see [`DIRECT`]). Empty: no index.
    index: Vec<u64>,
}

impl<B: Bits> Table<B> {
    /// Build from runs that are sorted, contiguous and cover the family from 0 to its last
    /// address. Adjacent runs with the same key are merged first.
    pub fn from_runs(runs: impl IntoIterator<Item = Run>) -> Table<B> {
        let mut t = Table {
            starts: Vec::new(),
            meta: Vec::new(),
            index: Vec::new(),
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
        t.build_index();
        t
    }

    /// The index, for tables with enough blocks (a full partition starts at address 0).
    fn build_index(&mut self) {
        let n = self.starts.len();
        if !(INDEX_MIN_BLOCKS..(1 << 31)).contains(&n) || self.starts[0].to_u128() != 0 {
            return;
        }
        let shift = u32::from(B::WIDTH) - INDEX_BITS;
        let slots = 1usize << INDEX_BITS;
        let mut index = Vec::with_capacity(slots);
        let mut lo = 0usize;
        for p in 0..slots {
            // lo: the block holding the slot's first address; hi: the one holding its last.
            let first = (p as u128) << shift;
            while lo + 1 < n && self.starts[lo + 1].to_u128() <= first {
                lo += 1;
            }
            let next = ((p as u128) + 1) << shift;
            let mut hi = lo;
            while hi + 1 < n && self.starts[hi + 1].to_u128() < next {
                hi += 1;
            }
            index.push(if lo == hi {
                let (key, len) = self.meta[lo];
                DIRECT | u64::from(len) << 32 | u64::from(key)
            } else {
                (hi as u64) << 32 | lo as u64
            });
        }
        self.index = index;
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
            self.meta.push((r.key, (width - k) as u8));
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
        let i = match self.index.get(addr.top(INDEX_BITS)) {
            None => self.starts.partition_point(|&s| s <= addr).checked_sub(1),
            Some(&e) if e & DIRECT != 0 => return (e as u32, (e >> 32) as u8),
            Some(&e) => {
                // starts[lo] <= addr < start of the block after hi: the count is >= 1.
                let (lo, hi) = ((e as u32) as usize, (e >> 32) as usize);
                let range = self.starts.get(lo + 1..=hi).unwrap_or(&[]);
                Some(lo + range.partition_point(|&s| s <= addr))
            }
        };
        // Only an empty table (never built from a full partition) has no block to give.
        i.and_then(|i| self.meta.get(i).copied())
            .unwrap_or((u32::MAX, 0))
    }

    /// The lookup without the index (the reference for tests).
    #[cfg(test)]
    fn plain_lookup(&self, addr: B) -> (u32, u8) {
        let i = self.starts.partition_point(|&s| s <= addr);
        self.meta[i - 1]
    }

    pub fn block_count(&self) -> usize {
        self.starts.len()
    }

    /// The blocks as `(start, prefix_len, key)`, for tests and diagnostics.
    pub fn blocks(&self) -> impl Iterator<Item = (B, u8, u32)> + '_ {
        (0..self.starts.len()).map(|i| (self.starts[i], self.meta[i].1, self.meta[i].0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: u128, end: u128, key: u32) -> Run {
        Run { start, end, key }
    }

    /// Runs of pseudo-random lengths covering the family, keys cycling through 7 values.
    fn random_runs(v6: bool) -> Vec<Run> {
        let max: u128 = if v6 { u128::MAX } else { u32::MAX.into() };
        let mut runs = Vec::new();
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut start = 0u128;
        let mut key = 0u32;
        loop {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let shift = (x % 16) as u32 + if v6 { 100 } else { 0 };
            let len = u128::from((x >> 56) + 1) << shift;
            let end = start.saturating_add(len - 1).min(max);
            runs.push(run(start, end, key % 7));
            key += 1;
            if end == max {
                return runs;
            }
            start = end + 1;
        }
    }

    #[test]
    fn indexed_lookup_agrees_with_plain_search() {
        let r4 = random_runs(false);
        let t4: Table<u32> = Table::from_runs(r4.clone());
        assert!(t4.index.len() > 1, "no index for {} runs", r4.len());
        let r6 = random_runs(true);
        let t6: Table<u128> = Table::from_runs(r6.clone());
        assert!(t6.index.len() > 1, "no index for {} runs", r6.len());
        for t in [&t4.index, &t6.index] {
            let direct = t.iter().filter(|&&e| e & DIRECT != 0).count();
            assert!(
                direct > 0 && direct < t.len(),
                "both kinds of slot: {direct}"
            );
        }
        for r in &r4 {
            for a in [r.start, r.end, r.start + (r.end - r.start) / 2] {
                assert_eq!(t4.lookup(a as u32), t4.plain_lookup(a as u32), "{a:#x}");
            }
        }
        for r in &r6 {
            for a in [r.start, r.end, r.start + (r.end - r.start) / 2] {
                assert_eq!(t6.lookup(a), t6.plain_lookup(a), "{a:#x}");
            }
        }
        // Every slot boundary of the largest index, and the last address of the family.
        for k in 0..=u32::from(u16::MAX) {
            let a = k << 16;
            assert_eq!(t4.lookup(a), t4.plain_lookup(a), "{a:#x}");
            assert_eq!(t4.lookup(a | 0xffff), t4.plain_lookup(a | 0xffff));
            let a6 = u128::from(k) << 112;
            assert_eq!(t6.lookup(a6), t6.plain_lookup(a6), "{a6:#x}");
            let e6 = a6 + ((1u128 << 112) - 1);
            assert_eq!(t6.lookup(e6), t6.plain_lookup(e6), "{e6:#x}");
        }
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
