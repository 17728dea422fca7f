//! Report encoding: round trips, junk from peers, clipping, urgency of changes.

use super::*;

fn sample() -> Vec<Item> {
    let mut r = Report::new("sha256:abc", Role::Both);
    r.observations.insert(
        "tcp 192.0.2.10:80".into(),
        Observation {
            state: ProbeState::Down,
            since_ms: 1_700_000_000_000,
            reason: "connect: refused".into(),
        },
    );
    r.vips.insert(
        "tcp 203.0.113.10:80".into(),
        VipStatus {
            quorum: ProbeState::Up,
            healthy_weight: 200,
            total_weight: 300,
            active_conns: 17,
            conn_rate: 4,
            capacity: 500,
            full: true,
        },
    );
    r.overrides.insert(
        "site:hq".into(),
        OverrideEntry {
            origin: String::new(),
            state: Some(OverrideState::Drain),
            author: "alice".into(),
            reason: "maintenance".into(),
            set_at_ms: 5,
            expires_ms: Some(9),
        },
    );
    r.overrides.insert(
        "addr:192.0.2.1".into(),
        OverrideEntry {
            origin: String::new(),
            state: None,
            author: "bob".into(),
            reason: String::new(),
            set_at_ms: 6,
            expires_ms: None,
        },
    );
    items(&r)
}

#[test]
fn every_item_reads_back_with_its_stamp() {
    for item in sample() {
        let (key, value) = (item.key(), item.value(42));
        assert!(key.starts_with(PREFIX), "{key}");
        let at = if item.refreshable() { 42 } else { 0 };
        assert_eq!(
            decode(&key, &value),
            Decoded::Item(item.clone(), at),
            "{key} = {value}"
        );
        assert!(value.len() < 200, "compact: {value}");
    }
}

#[test]
fn junk_from_a_peer_is_classified_never_a_panic() {
    let obs = sample()[2].value(1);
    let cases = [
        ("m1/obs/x", ""),
        ("m1/obs/x", "{"),
        ("m1/obs/x", "null"),
        ("m1/obs/x", r#"{"state":"sideways","since":1,"at":1}"#),
        ("m1/obs/x", r#"{"state":"up","since":-1,"at":1}"#),
        ("m1/obs/", obs.as_str()),
        ("m1/role", r#""router""#),
        ("m1/role/x", r#""dns""#),
        ("m1/ovr/site:hq", r#"{"state":"maybe","set_at":1}"#),
        ("m1/vip/v", r#"{"quorum":"up"}"#),
        ("m1/nonsense/x", "1"),
        ("m1/digest", "\u{0}\u{ffff}"),
    ];
    for (k, v) in cases {
        assert_eq!(decode(k, v), Decoded::Junk, "{k} = {v:?}");
    }
    let huge = format!(r#""{}""#, "a".repeat(MAX_VALUE));
    assert_eq!(decode("m1/digest", &huge), Decoded::Junk);
    assert_eq!(decode("m2/obs/x", "whatever"), Decoded::Foreign);
    assert_eq!(decode("heartbeat", ""), Decoded::Foreign);
}

#[test]
fn unknown_fields_from_a_newer_peer_are_tolerated() {
    let v = r#"{"state":"up","since":3,"at":4,"reason":"ok","extra":[1,2]}"#;
    assert!(matches!(
        decode("m1/obs/t", v),
        Decoded::Item(Item::Obs(..), 4)
    ));
}

#[test]
fn long_text_is_clipped_both_ways() {
    let o = Observation {
        state: ProbeState::Up,
        since_ms: 0,
        reason: "é".repeat(1000),
    };
    let v = Item::Obs("t".into(), o).value(0);
    match decode("m1/obs/t", &v) {
        Decoded::Item(Item::Obs(_, o), _) => assert_eq!(o.reason.chars().count(), MAX_TEXT),
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_quorum_changes_of_a_vip_are_urgent() {
    let items = sample();
    let Item::Vip(name, v) = &items[3] else {
        panic!("{:?}", items[3])
    };
    let busier = Item::Vip(
        name.clone(),
        VipStatus {
            active_conns: 99,
            ..v.clone()
        },
    );
    let down = Item::Vip(
        name.clone(),
        VipStatus {
            quorum: ProbeState::Down,
            ..v.clone()
        },
    );
    assert!(!items[3].urgent_change(&busier));
    assert!(items[3].urgent_change(&down));
    assert!(items[0].urgent_change(&Item::Digest("other".into())));
}

#[test]
fn a_vip_value_without_capacity_reads_as_unsized() {
    let v = r#"{"quorum":"up","healthy":1,"total":2,"conns":3,"rate":4,"at":5}"#;
    match decode("m1/vip/tcp 203.0.113.10:80", v) {
        Decoded::Item(Item::Vip(_, s), at) => {
            assert_eq!((s.active_conns, s.capacity, at), (3, 0, 5));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fresh_reads_back_and_keys_name_their_items() {
    let f = Item::Fresh;
    assert_eq!(f.key(), "m1/fresh");
    assert_eq!(
        decode(&f.key(), &f.value(77)),
        Decoded::Item(Item::Fresh, 77)
    );
    assert_eq!(decode("m1/fresh", "\"x\""), Decoded::Junk);
    assert_eq!(decode("m1/fresh/x", "1"), Decoded::Junk);
    let mut r = Report::new("d", Role::Dns);
    for item in sample() {
        if let Item::Obs(t, o) = &item {
            r.observations.insert(t.clone(), o.clone());
        }
    }
    let key = obs_key("tcp 192.0.2.10:80");
    assert!(matches!(item_for(&r, &key), Some(Item::Obs(t, _)) if t == "tcp 192.0.2.10:80"));
    assert_eq!(item_for(&r, &obs_key("tcp 192.0.2.99:80")), None);
    assert_eq!(item_for(&r, "m1/role"), Some(Item::Role(Role::Dns)));
    assert_eq!(item_for(&r, "m1/fresh"), None);
    assert_eq!(key_kind("m2/obs/x"), None);
    assert_eq!(
        key_kind("m1/vip/tcp 1.2.3.4:80"),
        Some(KeyKind::Vip("tcp 1.2.3.4:80"))
    );
}
