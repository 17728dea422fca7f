//! Byte-exact tests of the netlink framing and IPVS attribute codec, built from the layouts in
//! the kernel's `include/uapi/linux/ip_vs.h` (x86_64, little-endian host order).

use std::net::SocketAddr;

use super::consts::*;
use super::ipvs;
use super::*;
use crate::config::{Forward, Protocol, VirtualKey};
use crate::lvs::model::*;

fn tcp(addr: &str) -> VirtualKey {
    VirtualKey::Addr {
        protocol: Protocol::Tcp,
        addr: addr.parse().unwrap(),
    }
}

fn conf(key: VirtualKey, sched: &str) -> ServiceConf {
    let v6 = key_af(&key) == AF_INET6;
    ServiceConf {
        key,
        scheduler: sched.into(),
        flags: 0,
        timeout: 0,
        netmask: if v6 { 128 } else { u32::MAX },
    }
}

#[test]
fn getfamily_request_bytes() {
    let m = getfamily_request("IPVS", 7);
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        32, 0, 0, 0,   0x10, 0,   5, 0,   7, 0, 0, 0,   0, 0, 0, 0, // nlmsghdr: len, GENL_ID_CTRL, REQUEST|ACK, seq, pid
        3, 1, 0, 0,                                                   // genlmsghdr: GETFAMILY v1
        9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0,               // FAMILY_NAME "IPVS\0" + pad
    ];
    assert_eq!(m, want);
}

#[test]
fn family_id_from_newfamily_reply() {
    #[rustfmt::skip]
    let attrs = [
        9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0,
        6, 0, 1, 0, 32, 0, 0, 0,
    ];
    assert_eq!(parse_family_id(&attrs), Ok(32));
    assert!(parse_family_id(&attrs[..12]).is_err());
}

#[cfg(target_endian = "little")]
#[test]
fn service_full_ipv4_tcp_bytes() {
    let mut w = AttrWriter::new();
    ipvs::service_full(&mut w, &conf(tcp("10.0.0.1:80"), "wlc"));
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        84, 0, 1, 0x80,                          // CMD_ATTR_SERVICE | NLA_F_NESTED
        6, 0, 1, 0, 2, 0, 0, 0,                  // AF_INET
        6, 0, 2, 0, 6, 0, 0, 0,                  // PROTOCOL tcp (u16)
        20, 0, 3, 0, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR, 16 bytes
        6, 0, 4, 0, 0, 80, 0, 0,                 // PORT 80, network order
        8, 0, 6, 0, b'w', b'l', b'c', 0,         // SCHED_NAME
        12, 0, 7, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // FLAGS {0, mask ~0}
        8, 0, 8, 0, 0, 0, 0, 0,                  // TIMEOUT 0
        8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff,      // NETMASK 255.255.255.255 (be32)
    ];
    assert_eq!(w.buf, want);
}

#[cfg(target_endian = "little")]
#[test]
fn service_full_ipv6_persistent_and_fwmark_bytes() {
    let mut c = conf(tcp("[2001:db8::1]:443"), "sh");
    c.flags = SVC_F_PERSISTENT | SVC_F_SCHED1;
    c.timeout = 300;
    c.netmask = 64;
    let mut w = AttrWriter::new();
    ipvs::service_full(&mut w, &c);
    let b = &w.buf;
    // AF_INET6
    assert_eq!(&b[4..12], &[6, 0, 1, 0, 10, 0, 0, 0]);
    // full 16-byte v6 address
    assert_eq!(&b[20..24], &[20, 0, 3, 0]);
    assert_eq!(&b[24..28], &[0x20, 0x01, 0x0d, 0xb8]);
    assert_eq!(&b[40..48], &[6, 0, 4, 0, 0x01, 0xbb, 0, 0]);
    // flags 0x9, timeout 300, netmask = prefix length 64 in host order
    let tail = &b[b.len() - 28..];
    #[rustfmt::skip]
    let want_tail = [
        12, 0, 7, 0, 9, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        8, 0, 8, 0, 0x2c, 1, 0, 0,
        8, 0, 9, 0, 64, 0, 0, 0,
    ];
    assert_eq!(tail, want_tail);

    let mut w = AttrWriter::new();
    ipvs::service_key(
        &mut w,
        &VirtualKey::Fwmark {
            fwmark: 0x1234,
            ipv6: false,
        },
    );
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        20, 0, 1, 0x80,
        6, 0, 1, 0, 2, 0, 0, 0,
        8, 0, 5, 0, 0x34, 0x12, 0, 0,            // FWMARK host order
    ];
    assert_eq!(w.buf, want);
}

#[cfg(target_endian = "little")]
#[test]
fn dest_full_bytes() {
    let d = DestConf {
        addr: "10.0.0.2:8080".parse().unwrap(),
        forward: Forward::Dr,
        weight: 5,
        u_threshold: 100,
        l_threshold: 10,
        tunnel: Tunnel::default(),
    };
    let mut w = AttrWriter::new();
    ipvs::dest_full(&mut w, AF_INET, &d);
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        64, 0, 2, 0x80,
        20, 0, 1, 0, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        6, 0, 2, 0, 0x1f, 0x90, 0, 0,            // port 8080 be
        8, 0, 3, 0, 3, 0, 0, 0,                  // DROUTE
        8, 0, 4, 0, 5, 0, 0, 0,
        8, 0, 5, 0, 100, 0, 0, 0,
        8, 0, 6, 0, 10, 0, 0, 0,
    ];
    assert_eq!(w.buf, want);

    // A GUE tunnel to an IPv6 real server behind an IPv4 service.
    let d = DestConf {
        addr: "[2001:db8::2]:80".parse().unwrap(),
        forward: Forward::Tun,
        tunnel: Tunnel {
            kind: TunnelKind::Gue,
            port: 6080,
            flags: 1,
        },
        ..d
    };
    let mut w = AttrWriter::new();
    ipvs::dest_full(&mut w, AF_INET, &d);
    #[rustfmt::skip]
    let tail = [
        6, 0, 11, 0, 10, 0, 0, 0,                // ADDR_FAMILY inet6
        5, 0, 13, 0, 1, 0, 0, 0,                 // TUN_TYPE gue (u8 + pad)
        6, 0, 14, 0, 0x17, 0xc0, 0, 0,           // TUN_PORT 6080 be
        6, 0, 15, 0, 1, 0, 0, 0,                 // TUN_FLAGS csum
    ];
    assert_eq!(&w.buf[w.buf.len() - 32..], tail);
}

#[cfg(target_endian = "little")]
#[test]
fn parse_service_as_the_kernel_dumps_it() {
    // A GET_SERVICE dump message's attributes, in the kernel's order: AF, PROTOCOL, ADDR(16),
    // PORT, SCHED_NAME, PE absent, FLAGS (with HASHED, mask ~0), TIMEOUT, NETMASK, STATS, STATS64.
    let mut w = AttrWriter::new();
    let n = w.begin_nest(CMD_ATTR_SERVICE);
    w.u16(1, 2).u16(2, 17);
    w.bytes(3, &[192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    w.bytes(4, &[0, 53]);
    w.string(6, "rr");
    w.bytes(7, &[0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    w.u32(8, 600);
    w.bytes(9, &[255, 255, 255, 0]);
    let s = w.begin_nest(10);
    w.u32(1, 7).u32(2, 70).u32(3, 0);
    w.bytes(4, &1000u64.to_ne_bytes());
    w.end_nest(s);
    let s = w.begin_nest(12);
    w.bytes(1, &7u64.to_ne_bytes());
    w.bytes(11, &[]); // PAD
    w.bytes(4, &(u64::from(u32::MAX) + 5).to_ne_bytes());
    w.end_nest(s);
    w.end_nest(n);
    let svc = ipvs::parse_service(&w.buf).unwrap();
    assert_eq!(
        svc.conf,
        ServiceConf {
            key: VirtualKey::Addr {
                protocol: Protocol::Udp,
                addr: "192.0.2.1:53".parse().unwrap()
            },
            scheduler: "rr".into(),
            flags: SVC_F_PERSISTENT,
            timeout: 600,
            netmask: 0xffff_ff00,
        }
    );
    // STATS64 wins over the truncated 32-bit set
    assert_eq!(svc.stats.conns, 7);
    assert_eq!(svc.stats.inbytes, u64::from(u32::MAX) + 5);
}

#[test]
fn service_round_trips_through_the_codec() {
    let keys = [
        tcp("10.1.2.3:80"),
        tcp("[fe80::1]:8443"),
        VirtualKey::Addr {
            protocol: Protocol::Sctp,
            addr: "10.9.9.9:9".parse().unwrap(),
        },
        VirtualKey::Fwmark {
            fwmark: 7,
            ipv6: true,
        },
    ];
    for key in keys {
        let mut c = conf(key, "mh");
        c.flags = SVC_F_SCHED1 | SVC_F_SCHED2;
        let mut w = AttrWriter::new();
        ipvs::service_full(&mut w, &c);
        assert_eq!(ipvs::parse_service(&w.buf).unwrap().conf, c);
    }
}

#[test]
fn dest_round_trips_and_reads_counters() {
    let d = DestConf {
        addr: "[2001:db8::9]:80".parse::<SocketAddr>().unwrap(),
        forward: Forward::Nat,
        weight: i32::MAX as u32,
        u_threshold: 0,
        l_threshold: 0,
        tunnel: Tunnel::default(),
    };
    let mut w = AttrWriter::new();
    ipvs::dest_full(&mut w, AF_INET6, &d);
    // the kernel appends counters inside the nest
    let nest_len = w.buf.len();
    w.u32(DEST_ATTR_ACTIVE_CONNS, 3)
        .u32(DEST_ATTR_INACT_CONNS, 4);
    w.u16(DEST_ATTR_ADDR_FAMILY, AF_INET6);
    let grown = u16::try_from(w.buf.len()).unwrap();
    w.buf[0..2].copy_from_slice(&grown.to_ne_bytes());
    assert!(w.buf.len() > nest_len);
    let got = ipvs::parse_dest(&w.buf, AF_INET6).unwrap();
    assert_eq!(got.conf, d);
    assert_eq!((got.active_conns, got.inactive_conns), (3, 4));
    // LOCALNODE (old kernels, local real server) reads as direct routing
    assert_eq!(forward_from_raw(CONN_F_LOCALNODE), Some(Forward::Dr));
}

#[cfg(target_endian = "little")]
#[test]
fn messages_ack_error_done_and_data() {
    let mut buf = Vec::new();
    // ACK (error 0) echoing a 16-byte request header
    buf.extend_from_slice(&[36, 0, 0, 0, 2, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0]);
    buf.extend_from_slice(&[0, 0, 0, 0]);
    buf.extend_from_slice(&[0; 16]);
    // error -ENOENT (2)
    buf.extend_from_slice(&[36, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    buf.extend_from_slice(&(-2i32).to_ne_bytes());
    buf.extend_from_slice(&[0; 16]);
    // a data message: genl SET_INFO (14) with VERSION 1.2.1 and size 4096
    #[rustfmt::skip]
    buf.extend_from_slice(&[
        36, 0, 0, 0, 32, 0, 2, 0, 7, 0, 0, 0, 0, 0, 0, 0,
        14, 1, 0, 0,
        8, 0, 1, 0, 0x01, 0x02, 0x01, 0x00,
        8, 0, 2, 0, 0, 0x10, 0, 0,
    ]);
    // DONE
    buf.extend_from_slice(&[20, 0, 0, 0, 3, 0, 2, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let msgs: Vec<_> = Messages::new(&buf).collect::<Result<_, _>>().unwrap();
    assert_eq!(msgs[0], Message::Ack { seq: 5 });
    assert_eq!(msgs[1], Message::Error { seq: 6, errno: 2 });
    let Message::Data {
        ty, payload, seq, ..
    } = msgs[2]
    else {
        panic!("not data: {:?}", msgs[2]);
    };
    assert_eq!((ty, seq), (32, 7));
    let (cmd, attrs) = genl_split(payload).unwrap();
    assert_eq!(cmd, 14);
    let info = ipvs::parse_info(attrs).unwrap();
    assert_eq!(info.version_string(), "1.2.1");
    assert_eq!(info.conn_tab_size, 4096);
    assert_eq!(msgs[3], Message::Done { seq: 7, errno: 0 });
    // truncation is an error, not a panic
    assert!(Messages::new(&buf[..10]).next().unwrap().is_err());
    assert!(Messages::new(&buf[..30]).next().unwrap().is_err());
}

/// Found by the `netlink` fuzz target (fuzz/corpus/netlink/crash-ce8605...): an NLMSG_ERROR
/// whose code is i32::MIN overflowed when negated. It is a decode error now, in the reader
/// and in the exchange's reply handling; so is a DONE carrying it, while an empty DONE is
/// still a clean end.
#[cfg(target_endian = "little")]
#[test]
fn netlink_error_code_i32_min_is_a_decode_error() {
    #[rustfmt::skip]
    let crash: [u8; 44] = [
        0x24, 0, 0, 0, 2, 0, 0, 0, 7, 1, 0, 0, 0, 0x80, 0, 0,
        0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0,
    ];
    let m = Messages::new(&crash).next().unwrap();
    assert!(matches!(m, Err(DecodeError::Invalid(_))), "{m:?}");
    let mut each = |_: &[u8]| Ok(());
    let seq = 0x107;
    let r = crate::lvs::netlink::absorb(&crash, seq, false, &mut each);
    assert!(matches!(r, Err(crate::lvs::netlink::NlError::Decode(_))));
    let mut done = vec![16, 0, 0, 0, 3, 0, 2, 0, 7, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        Messages::new(&done).next().unwrap(),
        Ok(Message::Done { seq: 7, errno: 0 })
    );
    done[0] = 20;
    done.extend_from_slice(&i32::MIN.to_ne_bytes());
    assert!(Messages::new(&done).next().unwrap().is_err());
    done[16..].copy_from_slice(&(-5i32).to_ne_bytes());
    assert_eq!(
        Messages::new(&done).next().unwrap(),
        Ok(Message::Done { seq: 7, errno: 5 })
    );
}

#[cfg(target_endian = "little")]
#[test]
fn timeouts_and_daemon_bytes() {
    let mut w = AttrWriter::new();
    ipvs::timeouts(
        &mut w,
        &Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        },
    );
    #[rustfmt::skip]
    let want = [
        8, 0, 4, 0, 0x84, 3, 0, 0,
        8, 0, 5, 0, 120, 0, 0, 0,
        8, 0, 6, 0, 0x2c, 1, 0, 0,
    ];
    assert_eq!(w.buf, want);
    assert_eq!(
        ipvs::parse_timeouts(&w.buf).unwrap(),
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }
    );
    let d = Daemon {
        state: DaemonState::Backup,
        ifname: "eth0".into(),
        sync_id: 9,
        maxlen: None,
        group: Some("224.0.0.81".parse().unwrap()),
        port: Some(8848),
        ttl: None,
    };
    let mut w = AttrWriter::new();
    ipvs::daemon(&mut w, &d);
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        48, 0, 3, 0x80,
        8, 0, 1, 0, 2, 0, 0, 0,
        9, 0, 2, 0, b'e', b't', b'h', b'0', 0, 0, 0, 0,
        8, 0, 3, 0, 9, 0, 0, 0,
        8, 0, 5, 0, 224, 0, 0, 81,
        6, 0, 7, 0, 0x90, 0x22, 0, 0,
    ];
    assert_eq!(w.buf, want);
    assert_eq!(ipvs::parse_daemon(&w.buf).unwrap(), d);
}

#[test]
fn malformed_attributes_are_errors() {
    // a service nest whose ADDR is too short for AF_INET6
    let mut w = AttrWriter::new();
    let n = w.begin_nest(CMD_ATTR_SERVICE);
    w.u16(1, AF_INET6)
        .u16(2, 6)
        .bytes(3, &[1, 2, 3, 4])
        .be16(4, 80);
    w.end_nest(n);
    assert!(ipvs::parse_service(&w.buf).is_err());
    // attribute length past the end
    assert!(Attrs::new(&[40, 0, 1, 0, 0, 0]).next().unwrap().is_err());
    // wrong width of a u32
    assert!(get_u32(&[1, 2], "x", 1).is_err());
}
