//! A strict, independent reader of the responses the answer core writes, for the fuzzing
//! harnesses: every section walked record by record, every compression pointer pointing
//! backwards inside the message, every name at most 255 bytes, nothing left over. A
//! violation is a panic naming the offset.

/// What the harnesses check in a response, read from it.
#[derive(Debug, Clone, Default)]
pub(super) struct Reply {
    pub id: u16,
    pub flags: u16,
    /// The question entry as written (name, type, class), when QDCOUNT is 1.
    pub question: Option<std::ops::Range<usize>>,
    /// The OPT record: (UDP payload, extended-RCODE byte, options range).
    pub opt: Option<(u16, u8, std::ops::Range<usize>)>,
    pub answers: u16,
}

impl Reply {
    /// The full RCODE: the header's 4 bits and the OPT's upper 8.
    pub fn rcode(&self) -> u16 {
        let ext = self.opt.as_ref().map_or(0, |o| u16::from(o.1));
        (ext << 4) | (self.flags & 0x000F)
    }
}

const TYPE_OPT: u16 = 41;

/// Reads `msg` as a DNS response; panics on anything malformed.
pub(super) fn read(msg: &[u8]) -> Reply {
    assert!(msg.len() >= 12, "response shorter than a header");
    let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let mut reply = Reply {
        id: word(0),
        flags: word(2),
        answers: word(6),
        ..Reply::default()
    };
    assert!(reply.flags & 0x8000 != 0, "QR not set in a response");
    let qd = word(4);
    assert!(qd <= 1, "QDCOUNT {qd}");
    let mut pos = 12;
    if qd == 1 {
        let end = name_end(msg, pos) + 4;
        assert!(end <= msg.len(), "question runs past the message");
        reply.question = Some(pos..end);
        pos = end;
    }
    let sections = [word(6), word(8), word(10)];
    for (section, count) in sections.into_iter().enumerate() {
        for _ in 0..count {
            let owner = pos;
            let fixed = name_end(msg, pos);
            assert!(
                fixed + 10 <= msg.len(),
                "record at {owner} runs past the message"
            );
            let rtype = word(fixed);
            let rdlen = usize::from(word(fixed + 8));
            let rdata = fixed + 10..fixed + 10 + rdlen;
            assert!(
                rdata.end <= msg.len(),
                "RDATA at {owner} runs past the message"
            );
            check_rdata(msg, rtype, rdata.clone());
            if rtype == TYPE_OPT {
                assert_eq!(section, 2, "OPT outside the additional section");
                assert_eq!(msg[owner], 0, "OPT not owned by the root");
                assert!(reply.opt.is_none(), "two OPT records");
                reply.opt = Some((word(fixed + 2), msg[fixed + 4], rdata.clone()));
                check_options(msg, rdata.clone());
            }
            pos = rdata.end;
        }
    }
    assert_eq!(pos, msg.len(), "bytes after the last record");
    reply
}

/// The offset after the (possibly compressed) name at `pos`; panics when it is malformed.
fn name_end(msg: &[u8], start: usize) -> usize {
    let (mut pos, mut end, mut total, mut hops) = (start, None, 0usize, 0);
    loop {
        let len = *msg
            .get(pos)
            .unwrap_or_else(|| panic!("name at {start} runs out"));
        match len & 0xC0 {
            0 if len == 0 => return end.unwrap_or(pos + 1),
            0 => {
                total += 1 + usize::from(len);
                assert!(total < 255, "name at {start} longer than 255 bytes");
                pos += 1 + usize::from(len);
            }
            0xC0 => {
                let lo = *msg
                    .get(pos + 1)
                    .unwrap_or_else(|| panic!("pointer at {pos} cut"));
                let target = usize::from(u16::from_be_bytes([len & 0x3F, lo]));
                assert!(target < pos, "pointer at {pos} does not point backwards");
                end.get_or_insert(pos + 2);
                hops += 1;
                assert!(hops < 128, "pointer loop at {start}");
                pos = target;
            }
            _ => panic!("label type {len:#x} at {pos}"),
        }
    }
}

/// RDATA whose size is fixed by its type, and names inside RDATA.
fn check_rdata(msg: &[u8], rtype: u16, rdata: std::ops::Range<usize>) {
    let len = rdata.len();
    match rtype {
        1 => assert_eq!(len, 4, "A RDATA of {len} bytes"),
        28 => assert_eq!(len, 16, "AAAA RDATA of {len} bytes"),
        2 | 5 | 12 | 39 => {
            assert_eq!(name_end(msg, rdata.start), rdata.end, "name RDATA")
        }
        6 => {
            let rname = name_end(msg, rdata.start);
            assert_eq!(name_end(msg, rname) + 20, rdata.end, "SOA RDATA");
        }
        15 => assert_eq!(name_end(msg, rdata.start + 2), rdata.end, "MX RDATA"),
        33 => assert_eq!(name_end(msg, rdata.start + 6), rdata.end, "SRV RDATA"),
        _ => {}
    }
}

/// The options of an OPT record fill its RDATA exactly.
fn check_options(msg: &[u8], rdata: std::ops::Range<usize>) {
    let mut i = rdata.start;
    while i < rdata.end {
        assert!(i + 4 <= rdata.end, "option header cut at {i}");
        let len = usize::from(u16::from_be_bytes([msg[i + 2], msg[i + 3]]));
        i += 4 + len;
    }
    assert_eq!(i, rdata.end, "options run past the OPT RDATA");
}

/// The body of option `code` in the OPT options at `range`.
pub(super) fn option(msg: &[u8], range: std::ops::Range<usize>, code: u16) -> Option<&[u8]> {
    let opts = &msg[range];
    let mut i = 0;
    while i + 4 <= opts.len() {
        let c = u16::from_be_bytes([opts[i], opts[i + 1]]);
        let len = usize::from(u16::from_be_bytes([opts[i + 2], opts[i + 3]]));
        let body = opts.get(i + 4..i + 4 + len)?;
        if c == code {
            return Some(body);
        }
        i += 4 + len;
    }
    None
}
