//! The harnesses' own checks catch what they are meant to: the response reader refuses
//! malformed responses, and the harnesses accept real traffic.

use std::panic::catch_unwind;

use super::message;

/// A reply to `www.example.test A` with one answer whose owner points at the question.
fn reply() -> Vec<u8> {
    let mut r = vec![0x12, 0x34, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
    r.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1]);
    r
}

#[test]
fn the_reader_accepts_a_response() {
    let r = message::read(&reply());
    assert_eq!((r.id, r.answers, r.rcode()), (0x1234, 1, 0));
    assert_eq!(r.question, Some(12..34));
}

#[test]
fn the_reader_refuses_malformed_responses() {
    let mut trailing = reply();
    trailing.push(0);
    let mut cut = reply();
    cut.pop();
    let mut forward = reply();
    forward[35] = 0x30; // the owner pointer now points past itself
    let mut short_a = reply();
    short_a[45] = 3; // RDLENGTH 3 for an A record
    short_a.pop();
    let mut query = reply();
    query[2] = 0x04; // QR clear
    for (what, bad) in [
        ("trailing", trailing),
        ("cut", cut),
        ("forward", forward),
        ("short A", short_a),
        ("QR", query),
    ] {
        assert!(catch_unwind(|| message::read(&bad)).is_err(), "{what}");
    }
}

#[test]
fn the_harnesses_take_real_inputs() {
    let mut q = vec![0, 0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    super::wire_answer(&q);
    super::ecs(&[0, 0, 1, 24, 0, 198, 51, 100]);
    super::zonefile(
        b"$ORIGIN example.test.\n@ 60 SOA ns host 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.1\n",
    );
    super::policy(b"[server]\nlisten = [\"127.0.0.1:5353\"]\n");
    super::netlink(&[1 << 2 | 1]);
}
