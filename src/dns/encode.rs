//! Response encoding into a caller-owned, reused `Vec<u8>`, with name compression.
//!
//! The compression table is a fixed array of (packet offset, suffix length) pairs, one per
//! label written literally; a lookup only compares entries whose remaining length equals the
//! suffix being placed, so encoding stays cheap and never touches the heap (the buffer is
//! reserved once by its owner). [`Writer::mark`] / [`Writer::rollback`] undo a partly
//! written RRset when it does not fit, which is how truncation works.

use crate::dns::zone::Rdata;

/// Compression entries kept per response; names past this are written without new entries.
const TABLE: usize = 64;

/// A saved position to roll back to.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    len: usize,
    entries: usize,
}

/// Writes one response into `buf` (cleared at construction).
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    table: [(u16, u16); TABLE],
    entries: usize,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Writer<'a> {
        buf.clear();
        Writer {
            buf,
            table: [(0, 0); TABLE],
            entries: 0,
        }
    }

    /// Gives the buffer back (to start over with a new writer).
    pub fn into_buf(self) -> &'a mut Vec<u8> {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            entries: self.entries,
        }
    }

    pub fn rollback(&mut self, m: Mark) {
        self.buf.truncate(m.len);
        self.entries = m.entries;
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Overwrites a 16-bit field written earlier.
    pub fn set_u16(&mut self, at: usize, v: u16) {
        if let Some(s) = self.buf.get_mut(at..at + 2) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Reads back a 16-bit field written earlier (0 if out of range).
    pub fn get_u16(&self, at: usize) -> u16 {
        match self.buf.get(at..at + 2) {
            Some(s) => u16::from_be_bytes([s[0], s[1]]),
            None => 0,
        }
    }

    /// Registers an uncompressed name already in the buffer at `at` (the question).
    pub fn note_name(&mut self, at: usize, name: &[u8]) {
        let mut pos = 0usize;
        while let Some(&len) = name.get(pos) {
            if len == 0 {
                break;
            }
            self.add_entry(at + pos, name.len() - pos);
            pos += 1 + len as usize;
        }
    }

    fn add_entry(&mut self, off: usize, suffix_len: usize) {
        if self.entries < TABLE && off < 0x4000 {
            self.table[self.entries] = (off as u16, suffix_len as u16);
            self.entries += 1;
        }
    }

    /// Writes a wire name, compressed against earlier names if `compress`.
    pub fn name(&mut self, name: &[u8], compress: bool) {
        let mut pos = 0usize;
        while let Some(&len) = name.get(pos) {
            if len == 0 {
                break;
            }
            let suffix = &name[pos..];
            if compress && let Some(target) = self.find(suffix) {
                self.u16(0xC000 | target);
                return;
            }
            let here = self.buf.len();
            if compress {
                self.add_entry(here, suffix.len());
            }
            let end = (pos + 1 + len as usize).min(name.len());
            self.buf.extend_from_slice(&name[pos..end]);
            pos = end;
        }
        self.buf.push(0);
    }

    fn find(&self, suffix: &[u8]) -> Option<u16> {
        self.table[..self.entries]
            .iter()
            .find(|&&(off, slen)| {
                usize::from(slen) == suffix.len() && same_name(self.buf, off as usize, suffix)
            })
            .map(|&(off, _)| off)
    }

    /// Writes a resource record; returns the position of its TTL field.
    pub fn rr(&mut self, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &Rdata) -> usize {
        self.name(owner, true);
        self.u16(rtype);
        self.u16(class);
        let ttl_at = self.buf.len();
        self.u32(ttl);
        let len_at = self.buf.len();
        self.u16(0);
        rdata.write(self);
        let rdlen = self.buf.len() - len_at - 2;
        self.set_u16(len_at, rdlen as u16);
        ttl_at
    }
}

/// Compares the (possibly compressed) name at `off` in `pkt` with `name`, ignoring ASCII case.
fn same_name(pkt: &[u8], mut off: usize, name: &[u8]) -> bool {
    let mut i = 0usize;
    let mut hops = 0u8;
    loop {
        let Some(&len) = pkt.get(off) else {
            return false;
        };
        if len & 0xC0 == 0xC0 {
            let Some(&lo) = pkt.get(off + 1) else {
                return false;
            };
            off = (usize::from(len & 0x3F) << 8) | usize::from(lo);
            hops += 1;
            if hops > 64 {
                return false;
            }
            continue;
        }
        if name.get(i) != Some(&len) {
            return false;
        }
        if len == 0 {
            return true;
        }
        let l = len as usize;
        let (Some(a), Some(b)) = (pkt.get(off + 1..off + 1 + l), name.get(i + 1..i + 1 + l)) else {
            return false;
        };
        if !a.eq_ignore_ascii_case(b) {
            return false;
        }
        off += 1 + l;
        i += 1 + l;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::name::from_text;

    #[test]
    fn compresses_against_question_ignoring_case() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf);
        w.bytes(&[0; 12]);
        let q = from_text("WWW.example.test").unwrap();
        w.bytes(&q);
        w.note_name(12, &q);
        let m = w.mark();
        w.name(&from_text("www.EXAMPLE.test").unwrap(), true);
        assert_eq!(&buf_tail(&w, m), &[0xC0, 12]);
        let mail_at = w.len();
        let m = w.mark();
        w.name(&from_text("mail.example.test").unwrap(), true);
        assert_eq!(&buf_tail(&w, m), b"\x04mail\xC0\x10");
        let m = w.mark();
        w.name(&from_text("x.MAIL.example.test").unwrap(), true);
        assert_eq!(&buf_tail(&w, m), &[1, b'x', 0xC0, mail_at as u8]);
        let m = w.mark();
        w.name(&from_text("other.test").unwrap(), false);
        assert_eq!(&buf_tail(&w, m), b"\x05other\x04test\x00");
        w.rollback(m);
        assert_eq!(w.len(), m.len);
    }

    #[test]
    fn rollback_forgets_entries() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf);
        w.bytes(&[0; 12]);
        let m = w.mark();
        w.name(&from_text("a.test").unwrap(), true);
        w.rollback(m);
        w.bytes(&[0xFF; 8]);
        let m2 = w.mark();
        w.name(&from_text("a.test").unwrap(), true);
        assert_eq!(&buf_tail(&w, m2), b"\x01a\x04test\x00");
    }

    fn buf_tail(w: &Writer<'_>, m: Mark) -> Vec<u8> {
        w.buf[m.len..].to_vec()
    }
}
