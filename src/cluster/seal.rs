//! The datagram format of the gossip transport: `version (1 byte) | nonce (24 random bytes) |
//! ciphertext | tag (16 bytes)`, XChaCha20-Poly1305 under the cluster key with the version byte
//! as associated data. Pure: bytes in, bytes or a [`Reject`] out.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::key::ClusterKey;

/// The format byte that starts every datagram.
pub const WIRE_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// The shortest datagram that can be genuine: version, nonce and tag around an empty message.
pub const MIN_DATAGRAM: usize = 1 + NONCE_LEN + TAG_LEN;

/// Why a received datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("datagram shorter than {MIN_DATAGRAM} bytes")]
    TooShort,
    #[error("unknown format version")]
    BadVersion,
    #[error("authentication failed (wrong key or altered datagram)")]
    BadTag,
}

/// Seals and opens datagrams under one key.
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub(crate) fn new(key: &ClusterKey) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.bytes().into()),
        }
    }

    pub(crate) fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let aad = [WIRE_VERSION];
        let mut out = Vec::with_capacity(MIN_DATAGRAM + plaintext.len());
        out.push(WIRE_VERSION);
        out.extend_from_slice(&nonce_bytes);
        match self.cipher.encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        ) {
            Ok(ct) => out.extend_from_slice(&ct),
            // Only a message beyond 256 GiB fails; a datagram cannot be one.
            Err(_) => out.clear(),
        }
        out
    }

    pub(crate) fn open(&self, datagram: &[u8]) -> Result<Vec<u8>, Reject> {
        if datagram.len() < MIN_DATAGRAM {
            return Err(Reject::TooShort);
        }
        if datagram[0] != WIRE_VERSION {
            return Err(Reject::BadVersion);
        }
        let (nonce, ct) = datagram[1..].split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Reject::TooShort)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: &datagram[..1],
                },
            )
            .map_err(|_| Reject::BadTag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(b: u8) -> Sealer {
        Sealer::new(&ClusterKey::from_bytes([b; 32]))
    }

    #[test]
    fn sealed_datagrams_open_with_the_same_key_only() {
        let (a, b) = (sealer(1), sealer(2));
        let msg = b"scuttlebutt digest";
        let sealed = a.seal(msg);
        assert_eq!(sealed.len(), MIN_DATAGRAM + msg.len());
        assert_eq!(sealed[0], WIRE_VERSION);
        assert_eq!(a.open(&sealed).unwrap(), msg);
        assert_eq!(b.open(&sealed), Err(Reject::BadTag));
        assert_ne!(a.seal(msg), sealed, "a fresh random nonce per datagram");
        assert!(
            !sealed.windows(msg.len()).any(|w| w == msg),
            "the plaintext does not appear in the datagram"
        );
        assert_eq!(a.open(&a.seal(b"")).unwrap(), b"");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let s = sealer(7);
        let sealed = s.seal(b"0123456789");
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                let want = if i == 0 {
                    Reject::BadVersion
                } else {
                    Reject::BadTag
                };
                assert_eq!(s.open(&bad), Err(want), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn short_and_foreign_datagrams_are_classified() {
        let s = sealer(3);
        let sealed = s.seal(b"x");
        assert_eq!(s.open(&[]), Err(Reject::TooShort));
        assert_eq!(s.open(&sealed[..MIN_DATAGRAM - 1]), Err(Reject::TooShort));
        assert_eq!(s.open(&sealed[..sealed.len() - 1]), Err(Reject::BadTag));
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(s.open(&v2), Err(Reject::BadVersion));
        assert_eq!(s.open(&[WIRE_VERSION; 200]), Err(Reject::BadTag));
    }
}
