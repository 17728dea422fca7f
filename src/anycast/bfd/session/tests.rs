use super::*;

fn peer(state: State, my: u32, your: u32) -> Packet {
    Packet {
        diag: 0,
        state,
        poll: false,
        fin: false,
        detect_mult: 3,
        my_disc: my,
        your_disc: your,
        desired_min_tx: 100_000,
        required_min_rx: 100_000,
    }
}

#[test]
fn codec_round_trip_and_bytes() {
    let p = Packet {
        poll: true,
        ..peer(State::Up, 0x0102_0304, 7)
    };
    let b = p.encode();
    assert_eq!(b[0], 0x20);
    assert_eq!(b[1], 0xc0 | 0x20);
    assert_eq!(b[3], 24);
    assert_eq!(&b[4..8], &[1, 2, 3, 4]);
    assert_eq!(Packet::decode(&b), Some(p));
}

#[test]
fn invalid_packets_are_dropped() {
    let good = peer(State::Down, 5, 0).encode();
    assert!(Packet::decode(&good).is_some());
    assert!(Packet::decode(&good[..20]).is_none());
    let mut v = good;
    v[0] = 0x40; // version 2
    assert!(Packet::decode(&v).is_none());
    let mut m = good;
    m[2] = 0; // detect mult 0
    assert!(Packet::decode(&m).is_none());
    let mut z = good;
    z[4..8].copy_from_slice(&[0; 4]); // my discriminator 0
    assert!(Packet::decode(&z).is_none());
    // Your discriminator 0 only in Down or AdminDown.
    assert!(Packet::decode(&peer(State::Up, 5, 0).encode()).is_none());
    let mut a = good;
    a[1] |= 0x04; // authentication
    assert!(Packet::decode(&a).is_none());
}

#[test]
fn three_way_handshake_then_detection_timeout() {
    let t = Instant::now();
    let mut s = Session::new(42, Duration::from_millis(100), 3, t);
    let r = s.on_packet(&peer(State::Down, 9, 0), t).unwrap();
    assert_eq!(s.state(), State::Init);
    assert_eq!(r.your_disc, 9);
    assert_eq!(r.state, State::Init);
    let r = s.on_packet(&peer(State::Up, 9, 42), t).unwrap();
    assert_eq!(s.state(), State::Up);
    assert!(r.poll, "new timers are announced with a poll");
    assert_eq!(r.desired_min_tx, 100_000);
    let fin = Packet {
        fin: true,
        ..peer(State::Up, 9, 42)
    };
    assert!(s.on_packet(&fin, t).is_none());
    // Nothing heard for 3 × 100 ms: down, with "control detection time expired".
    let late = t + Duration::from_millis(301);
    let mut rng = rand::rng();
    s.on_timer(late, &mut rng);
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.packet(false).diag, 1);
}

#[test]
fn poll_is_answered_with_final() {
    let t = Instant::now();
    let mut s = Session::new(42, Duration::from_millis(100), 3, t);
    s.on_packet(&peer(State::Down, 9, 0), t);
    let p = Packet {
        poll: true,
        ..peer(State::Init, 9, 42)
    };
    let r = s.on_packet(&p, t).unwrap();
    assert!(r.fin && !r.poll);
}

#[test]
fn peer_admin_down_takes_the_session_down() {
    let t = Instant::now();
    let mut s = Session::new(42, Duration::from_millis(100), 3, t);
    s.on_packet(&peer(State::Down, 9, 0), t);
    s.on_packet(&peer(State::Up, 9, 42), t);
    s.on_packet(&peer(State::AdminDown, 9, 42), t);
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.admin_down().state, State::AdminDown);
}

#[test]
fn slow_while_down_and_jittered() {
    let t = Instant::now();
    let mut s = Session::new(42, Duration::from_millis(100), 3, t);
    let mut rng = rand::rng();
    let p = s.on_timer(t, &mut rng).unwrap();
    assert_eq!(p.desired_min_tx, 1_000_000);
    assert!(s.next_event() >= t + Duration::from_millis(750));
    assert!(s.next_event() <= t + Duration::from_secs(1));
}

#[test]
fn packets_for_another_discriminator_are_ignored() {
    let t = Instant::now();
    let mut s = Session::new(42, Duration::from_millis(100), 3, t);
    assert!(s.on_packet(&peer(State::Up, 9, 43), t).is_none());
    assert_eq!(s.state(), State::Down);
}
