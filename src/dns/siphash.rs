//! SipHash-2-4 (Aumasson and Bernstein, 2012) over a byte string with a 128-bit key: the
//! function RFC 9018 names for interoperable server cookies, and the keyed hash that spreads
//! client prefixes over the rate limiter's table (a random key, so that nobody can pick
//! prefixes that collide with a victim's).
//!
//! Written for short inputs on the query path: no allocation, one pass over the bytes.

/// The 64-bit SipHash-2-4 of `msg` under the 16-byte `key` (read as two little-endian words,
/// as the reference does); the caller writes the result little-endian where it needs bytes.
pub fn siphash24(key: &[u8; 16], msg: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes([
        key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
    ]);
    let k1 = u64::from_le_bytes([
        key[8], key[9], key[10], key[11], key[12], key[13], key[14], key[15],
    ]);
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut blocks = msg.chunks_exact(8);
    for b in &mut blocks {
        let m = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    // The last block: the remaining bytes, and the message length (mod 256) in the top byte.
    let mut last = [0u8; 8];
    let rest = blocks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = msg.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    /// The example of the SipHash paper's appendix: key 00..0f, message 00..0e.
    #[test]
    fn paper_example() {
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&key(), &msg), 0xa129_ca61_49be_45e5);
    }

    /// The standard library's (deprecated) `SipHasher` is SipHash-2-4 too: every length
    /// from 0 to 64 bytes, so each tail length and several blocks are covered.
    #[test]
    #[allow(deprecated)]
    fn agrees_with_std_for_every_tail_length() {
        use std::hash::Hasher;
        let k = key();
        let msg: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..=msg.len() {
            let mut h = std::hash::SipHasher::new_with_keys(
                u64::from_le_bytes(k[..8].try_into().unwrap()),
                u64::from_le_bytes(k[8..].try_into().unwrap()),
            );
            h.write(&msg[..len]);
            assert_eq!(siphash24(&k, &msg[..len]), h.finish(), "length {len}");
        }
    }
}
