//! Netlink framing for the IPVS client: message headers, attributes, and the generic netlink
//! controller request that resolves the `IPVS` family.
//!
//! Everything here is a plain function over byte slices with no I/O, so it is tested on the exact
//! bytes the kernel sends and expects. The IPVS-specific attribute sets live in [`ipvs`].

pub mod consts;
pub mod ipvs;

#[cfg(test)]
mod tests;

/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct genlmsghdr)`.
pub const GENL_HDRLEN: usize = 4;
/// `sizeof(struct nlattr)`.
pub const NLA_HDRLEN: usize = 4;
/// Attribute type bits (strips `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`).
pub const NLA_TYPE_MASK: u16 = 0x3fff;
pub const NLA_F_NESTED: u16 = 0x8000;

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;

pub const GENL_ID_CTRL: u16 = 0x10;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// Round up to the 4-byte netlink alignment.
pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A reply that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("attribute {attr} of {what} has {len} bytes, expected {expected}")]
    BadLength {
        what: &'static str,
        attr: u16,
        len: usize,
        expected: usize,
    },
    #[error("{what} lacks attribute {attr}")]
    Missing { what: &'static str, attr: u16 },
    #[error("{0}")]
    Invalid(String),
}

/// Builds attributes (and nests) into a byte buffer.
#[derive(Debug, Default)]
pub struct AttrWriter {
    pub buf: Vec<u8>,
}

impl AttrWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn bytes(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = NLA_HDRLEN + payload.len();
        // A netlink attribute length is a u16; IPVS payloads are at most a few dozen bytes.
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }
    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.bytes(ty, &[v])
    }
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.bytes(ty, &v.to_ne_bytes())
    }
    /// A "u16" attribute whose value the kernel reads in network byte order (ports).
    pub fn be16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.bytes(ty, &v.to_be_bytes())
    }
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.bytes(ty, &v.to_ne_bytes())
    }
    /// A NUL-terminated string.
    pub fn string(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.bytes(ty, &v)
    }
    /// Start a nested attribute; finish it with [`AttrWriter::end_nest`].
    pub fn begin_nest(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }
    pub fn end_nest(&mut self, at: usize) {
        let len = u16::try_from(self.buf.len() - at).unwrap_or(u16::MAX);
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }
}

/// One complete request: `nlmsghdr` + `genlmsghdr` + attributes.
pub fn request(family: u16, cmd: u8, version: u8, flags: u16, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + GENL_HDRLEN + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    m.extend_from_slice(&family.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills in ours
    m.extend_from_slice(&[cmd, version, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

/// `CTRL_CMD_GETFAMILY` for `name`.
pub fn getfamily_request(name: &str, seq: u32) -> Vec<u8> {
    let mut w = AttrWriter::new();
    w.string(CTRL_ATTR_FAMILY_NAME, name);
    request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_ACK, seq, &w.buf)
}

/// The family id in a `CTRL_CMD_NEWFAMILY` reply's attributes.
pub fn parse_family_id(attrs: &[u8]) -> Result<u16, DecodeError> {
    for a in Attrs::new(attrs) {
        let (ty, v) = a?;
        if ty == CTRL_ATTR_FAMILY_ID {
            return get_u16(v, "family", ty);
        }
    }
    Err(DecodeError::Missing {
        what: "family",
        attr: CTRL_ATTR_FAMILY_ID,
    })
}

/// One netlink message from a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A data message; for generic netlink the payload starts with the `genlmsghdr`.
    Data {
        ty: u16,
        flags: u16,
        seq: u32,
        payload: &'a [u8],
    },
    /// `NLMSG_ERROR` with error 0.
    Ack { seq: u32 },
    /// `NLMSG_ERROR` with a negative errno; `errno` is positive here.
    Error { seq: u32, errno: i32 },
    /// End of a dump (`NLMSG_DONE`); `errno` non-zero when the dump failed.
    Done { seq: u32, errno: i32 },
}

/// Iterates the messages in one `recv()` buffer.
pub struct Messages<'a> {
    buf: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        if self.buf.len() < NLMSG_HDRLEN {
            self.buf = &[];
            return Some(Err(DecodeError::Truncated("netlink header")));
        }
        let len = u32::from_ne_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len < NLMSG_HDRLEN || len > self.buf.len() {
            self.buf = &[];
            return Some(Err(DecodeError::Truncated("netlink message")));
        }
        let ty = u16::from_ne_bytes([self.buf[4], self.buf[5]]);
        let flags = u16::from_ne_bytes([self.buf[6], self.buf[7]]);
        let seq = u32::from_ne_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]);
        let payload = &self.buf[NLMSG_HDRLEN..len];
        self.buf = &self.buf[align4(len).min(self.buf.len())..];
        // The error code is a negated errno; i32::MIN has no positive counterpart (found by
        // the `netlink` fuzz target: negating it overflowed).
        let code = payload
            .get(..4)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        let errno = |c: i32| {
            c.checked_neg()
                .ok_or_else(|| DecodeError::Invalid(format!("netlink error code {c}")))
        };
        Some(match ty {
            NLMSG_ERROR => code
                .ok_or(DecodeError::Truncated("netlink error code"))
                .and_then(errno)
                .map(|e| {
                    if e == 0 {
                        Message::Ack { seq }
                    } else {
                        Message::Error { seq, errno: e }
                    }
                }),
            // An old kernel may send DONE with an empty payload.
            NLMSG_DONE => code
                .map_or(Ok(0), errno)
                .map(|errno| Message::Done { seq, errno }),
            _ => Ok(Message::Data {
                ty,
                flags,
                seq,
                payload,
            }),
        })
    }
}

/// Split a generic netlink payload into `(cmd, attributes)`.
pub fn genl_split(payload: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    if payload.len() < GENL_HDRLEN {
        return Err(DecodeError::Truncated("genetlink header"));
    }
    Ok((payload[0], &payload[GENL_HDRLEN..]))
}

/// Iterates `(type, payload)` over a run of attributes; the type has its flag bits cleared.
pub struct Attrs<'a> {
    buf: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.len() < NLA_HDRLEN {
            // Trailing bytes shorter than a header are padding.
            return None;
        }
        let len = u16::from_ne_bytes([self.buf[0], self.buf[1]]) as usize;
        let ty = u16::from_ne_bytes([self.buf[2], self.buf[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > self.buf.len() {
            self.buf = &[];
            return Some(Err(DecodeError::Truncated("attribute")));
        }
        let v = &self.buf[NLA_HDRLEN..len];
        self.buf = &self.buf[align4(len).min(self.buf.len())..];
        Some(Ok((ty, v)))
    }
}

fn exact<const N: usize>(v: &[u8], what: &'static str, attr: u16) -> Result<[u8; N], DecodeError> {
    v.try_into().map_err(|_| DecodeError::BadLength {
        what,
        attr,
        len: v.len(),
        expected: N,
    })
}
pub fn get_u8(v: &[u8], what: &'static str, attr: u16) -> Result<u8, DecodeError> {
    exact::<1>(v, what, attr).map(|b| b[0])
}
pub fn get_u16(v: &[u8], what: &'static str, attr: u16) -> Result<u16, DecodeError> {
    exact(v, what, attr).map(u16::from_ne_bytes)
}
pub fn get_be16(v: &[u8], what: &'static str, attr: u16) -> Result<u16, DecodeError> {
    exact(v, what, attr).map(u16::from_be_bytes)
}
pub fn get_u32(v: &[u8], what: &'static str, attr: u16) -> Result<u32, DecodeError> {
    exact(v, what, attr).map(u32::from_ne_bytes)
}
pub fn get_u64(v: &[u8], what: &'static str, attr: u16) -> Result<u64, DecodeError> {
    exact(v, what, attr).map(u64::from_ne_bytes)
}
/// A NUL-terminated (or unterminated) string attribute.
pub fn get_string(v: &[u8]) -> Result<String, DecodeError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    std::str::from_utf8(&v[..end])
        .map(str::to_owned)
        .map_err(|_| DecodeError::Invalid("string attribute is not UTF-8".into()))
}
