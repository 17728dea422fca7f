//! Naming the node that answered, for operators who must tell anycast or load-balanced
//! servers apart: the NSID option (RFC 5001) in replies to queries that carry one, and the
//! CHAOS-class TXT answers to `id.server.` (RFC 4892) and `hostname.bind.`.
//!
//! Both are off by default (`[server] nsid`, `chaos_id`). The answer core consults this
//! module only for an EDNS query with an NSID option or a query of class CH, so the common
//! path (class IN, no NSID) pays one comparison for it.

use std::sync::Arc;

use crate::dns::encode::Writer;

/// EDNS option code of NSID (RFC 5001).
pub const OPT_NSID: u16 = 3;
/// The CHAOS class.
pub const CLASS_CH: u16 = 3;
const TYPE_TXT: u16 = 16;
const TYPE_ANY: u16 = 255;

/// The names a CH TXT query may ask for the server's identity, lower-cased wire form.
const CHAOS_NAMES: [&[u8]; 2] = [b"\x02id\x06server\x00", b"\x08hostname\x04bind\x00"];

/// What the node says about itself; `None` where the operator did not turn it on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The NSID option's payload.
    pub nsid: Option<Arc<[u8]>>,
    /// The TXT string of the CH answers.
    pub chaos: Option<Arc<[u8]>>,
}

impl Identity {
    /// The identity `name` (validated: 1..=255 printable ASCII bytes) where turned on.
    pub fn new(name: &str, nsid: bool, chaos: bool) -> Identity {
        let bytes: Arc<[u8]> = Arc::from(name.as_bytes());
        Identity {
            nsid: nsid.then(|| bytes.clone()),
            chaos: chaos.then_some(bytes),
        }
    }
}

/// Writes the answer record to a CH query for the server's identity and returns true, or
/// returns false (the caller refuses the query, as it does with chaos answers off).
/// `lname` is the lower-cased question name; the answer's owner points at the question.
pub(crate) fn chaos_answer(
    chaos: Option<&[u8]>,
    lname: &[u8],
    qtype: u16,
    w: &mut Writer<'_>,
) -> bool {
    let Some(text) = chaos else { return false };
    if !(qtype == TYPE_TXT || qtype == TYPE_ANY) || !CHAOS_NAMES.contains(&lname) {
        return false;
    }
    // Validation keeps the identity within one character-string; cut anyway rather than
    // write a record whose lengths disagree.
    let text = &text[..text.len().min(255)];
    w.u16(0xC000 | crate::dns::wire::HEADER_LEN as u16);
    w.u16(TYPE_TXT);
    w.u16(CLASS_CH);
    w.u32(0);
    w.u16(1 + text.len() as u16);
    w.u8(text.len() as u8);
    w.bytes(text);
    w.set_u16(6, 1);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_txt_or_any_for_the_two_names() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf);
        w.bytes(&[0; 12]);
        assert!(!chaos_answer(None, CHAOS_NAMES[0], TYPE_TXT, &mut w));
        assert!(!chaos_answer(
            Some(b"n1"),
            b"\x07version\x04bind\x00",
            TYPE_TXT,
            &mut w
        ));
        assert!(!chaos_answer(Some(b"n1"), CHAOS_NAMES[0], 1, &mut w));
        assert_eq!(w.len(), 12, "nothing written when not answering");
        assert!(chaos_answer(Some(b"n1"), CHAOS_NAMES[1], TYPE_ANY, &mut w));
        let buf = w.into_buf();
        assert_eq!(
            &buf[12..],
            &[0xC0, 12, 0, 16, 0, 3, 0, 0, 0, 0, 0, 3, 2, b'n', b'1']
        );
        assert_eq!(&buf[6..8], &[0, 1], "ANCOUNT");
    }

    #[test]
    fn off_by_default() {
        assert_eq!(Identity::default(), Identity::new("x", false, false));
        let i = Identity::new("ns1", true, false);
        assert_eq!(i.nsid.as_deref(), Some(&b"ns1"[..]));
        assert!(i.chaos.is_none());
    }
}
