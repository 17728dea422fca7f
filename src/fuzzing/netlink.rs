//! The netlink harness: bytes as the kernel's replies, through the netlink message reader
//! and the exchange's reply handling (`lvs::netlink::absorb`: ACKs, errors, multipart dumps
//! ended by DONE) into every IPVS decoder and the two rtnetlink ones `realserver` uses.
//!
//! Checks: no panic on any input; whatever decodes encodes back (with the request encoders
//! `lvs` sends) into attributes that decode to the same value.

use crate::lvs::codec::consts::{AF_INET, AF_INET6};
use crate::lvs::codec::{self, AttrWriter, DecodeError, ipvs};
use crate::lvs::netlink;
use crate::realserver::rtnl;

/// The sequence number replies are matched against.
const SEQ: u32 = 7;

/// Input: one control byte, then a receive buffer (bit 0 clear) or one reply's attributes
/// (bit 0 set). Bit 1: the request was a dump; bits 2-5: which decoder the exchange uses
/// (see `decode`; 8 and 9 are rtnetlink's, which read the whole payload).
pub fn netlink(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let which = (control >> 2) & 15;
    if control & 1 == 1 {
        let _ = decode(which, rest);
        return;
    }
    let mut each = |payload: &[u8]| -> Result<(), DecodeError> {
        if which >= 8 {
            return decode(which, payload);
        }
        let (_cmd, attrs) = codec::genl_split(payload)?;
        decode(which, attrs)
    };
    let _ = netlink::absorb(rest, SEQ, control & 2 != 0, &mut each);
    for m in codec::Messages::new(rest) {
        if let Ok(codec::Message::Data { payload, .. }) = m
            && let Ok((_, attrs)) = codec::genl_split(payload)
        {
            let _ = decode(which, attrs);
        }
    }
}

/// Decodes `attrs` with decoder `which` (0 service, 1 and 2 real server of an IPv4 or IPv6
/// service, 3 sync daemon, 4 timeouts, 5 info, 6 family id, 8 link, 9 address, others
/// stats) and checks that what the director sends back decodes to the same value.
fn decode(which: u8, attrs: &[u8]) -> Result<(), DecodeError> {
    match which {
        0 => {
            let s = ipvs::parse_service(attrs)?;
            let mut w = AttrWriter::new();
            ipvs::service_full(&mut w, &s.conf);
            let back = ipvs::parse_service(&w.buf).expect("an encoded service decodes");
            assert_eq!(back.conf, s.conf, "service round trip");
        }
        1 | 2 => {
            let af = if which == 1 { AF_INET } else { AF_INET6 };
            let d = ipvs::parse_dest(attrs, af)?;
            let mut w = AttrWriter::new();
            ipvs::dest_full(&mut w, af, &d.conf);
            let back = ipvs::parse_dest(&w.buf, af).expect("an encoded real server decodes");
            assert_eq!(back.conf, d.conf, "real server round trip");
        }
        3 => {
            let d = ipvs::parse_daemon(attrs)?;
            let mut w = AttrWriter::new();
            ipvs::daemon(&mut w, &d);
            let back = ipvs::parse_daemon(&w.buf).expect("an encoded daemon decodes");
            assert_eq!(back, d, "sync daemon round trip");
        }
        4 => {
            let t = ipvs::parse_timeouts(attrs)?;
            let mut w = AttrWriter::new();
            ipvs::timeouts(&mut w, &t);
            assert_eq!(ipvs::parse_timeouts(&w.buf), Ok(t), "timeouts round trip");
        }
        5 => {
            ipvs::parse_info(attrs)?;
        }
        6 => {
            codec::parse_family_id(attrs)?;
        }
        8 => {
            rtnl::parse_link(attrs)?;
        }
        9 => {
            rtnl::parse_addr(attrs)?;
        }
        _ => {
            ipvs::parse_stats(attrs)?;
        }
    }
    Ok(())
}
