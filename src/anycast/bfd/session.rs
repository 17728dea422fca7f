//! The BFD control packet (RFC 5880 §4.1) and one session's state machine (§6.8), pure:
//! every call takes the time.

use std::time::Duration;

use rand::{Rng, RngExt};
use tokio::time::Instant;

/// Session states as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

/// Diagnostic codes this end sends.
const DIAG_NONE: u8 = 0;
const DIAG_EXPIRED: u8 = 1;
const DIAG_NEIGHBOR_DOWN: u8 = 3;
const DIAG_ADMIN_DOWN: u8 = 7;

const FLAG_POLL: u8 = 0x20;
const FLAG_FINAL: u8 = 0x10;
const FLAG_MULTIPOINT: u8 = 0x01;

/// A BFD control packet without authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub diag: u8,
    pub state: State,
    pub poll: bool,
    pub fin: bool,
    pub detect_mult: u8,
    pub my_disc: u32,
    pub your_disc: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    pub required_min_rx: u32,
}

impl Packet {
    pub const LEN: usize = 24;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0] = (1 << 5) | (self.diag & 0x1f);
        b[1] = ((self.state as u8) << 6)
            | if self.poll { FLAG_POLL } else { 0 }
            | if self.fin { FLAG_FINAL } else { 0 };
        b[2] = self.detect_mult;
        b[3] = Self::LEN as u8;
        b[4..8].copy_from_slice(&self.my_disc.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_disc.to_be_bytes());
        b[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        b[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        b
    }

    /// The §6.8.6 reception checks that do not need a session; None drops the packet.
    pub fn decode(b: &[u8]) -> Option<Packet> {
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
        };
        let len = usize::from(*b.get(3)?);
        let flags = *b.get(1)?;
        let p = Packet {
            diag: b[0] & 0x1f,
            state: State::from_bits(flags >> 6),
            poll: flags & FLAG_POLL != 0,
            fin: flags & FLAG_FINAL != 0,
            detect_mult: b[2],
            my_disc: word(4)?,
            your_disc: word(8)?,
            desired_min_tx: word(12)?,
            required_min_rx: word(16)?,
        };
        let auth = flags & 0x04 != 0;
        let ok = b[0] >> 5 == 1
            && len >= Self::LEN
            && len <= b.len()
            && !auth
            && p.detect_mult != 0
            && flags & FLAG_MULTIPOINT == 0
            && p.my_disc != 0
            && (p.your_disc != 0 || matches!(p.state, State::Down | State::AdminDown))
            && !(p.poll && p.fin);
        ok.then_some(p)
    }
}

/// RFC 5880 §6.8.3: while not up, transmit no faster than once a second.
const SLOW: Duration = Duration::from_secs(1);
/// A session silent and down this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60);

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// One session with one peer.
#[derive(Debug, Clone)]
pub struct Session {
    state: State,
    diag: u8,
    local_disc: u32,
    remote_disc: u32,
    remote_state: State,
    /// What this end asks for once up.
    interval: Duration,
    mult: u8,
    remote_min_rx: Duration,
    remote_desired_tx: Duration,
    remote_mult: u8,
    /// A poll sequence is running (our timers changed): P set until an F arrives.
    poll: bool,
    last_rx: Instant,
    next_tx: Instant,
}

impl Session {
    pub fn new(local_disc: u32, interval: Duration, mult: u8, now: Instant) -> Session {
        Session {
            state: State::Down,
            diag: DIAG_NONE,
            local_disc,
            remote_disc: 0,
            remote_state: State::Down,
            interval,
            mult,
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: SLOW,
            remote_mult: 1,
            poll: false,
            last_rx: now,
            next_tx: now,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn local_disc(&self) -> u32 {
        self.local_disc
    }

    /// What this end advertises as its desired transmit interval.
    fn desired_tx(&self) -> Duration {
        if self.state == State::Up {
            self.interval
        } else {
            SLOW.max(self.interval)
        }
    }

    /// §6.8.7: the larger of our desired TX and the peer's required RX.
    fn tx_interval(&self) -> Duration {
        self.desired_tx().max(self.remote_min_rx)
    }

    /// §6.8.4: the peer's multiplier times the larger of our required RX and its desired TX.
    fn detect_time(&self) -> Duration {
        self.interval.max(self.remote_desired_tx) * u32::from(self.remote_mult.max(1))
    }

    fn packet(&self, fin: bool) -> Packet {
        Packet {
            diag: self.diag,
            state: self.state,
            poll: self.poll && !fin,
            fin,
            detect_mult: self.mult,
            my_disc: self.local_disc,
            your_disc: self.remote_disc,
            desired_min_tx: micros(self.desired_tx()),
            required_min_rx: micros(self.interval),
        }
    }

    fn set_state(&mut self, s: State, diag: u8) {
        if s != self.state {
            let was_up = self.state == State::Up;
            self.state = s;
            self.diag = diag;
            // Our desired TX changes on entering or leaving Up: announce it with a poll.
            if was_up || s == State::Up {
                self.poll = true;
            }
        }
    }

    /// §6.8.6 for a decoded packet of this session's peer; returns an immediate reply (the
    /// Final answer to a Poll, or a state change worth telling at once).
    pub fn on_packet(&mut self, p: &Packet, now: Instant) -> Option<Packet> {
        if p.your_disc != 0 && p.your_disc != self.local_disc {
            return None;
        }
        let before = self.state;
        self.remote_disc = p.my_disc;
        self.remote_state = p.state;
        self.remote_min_rx = Duration::from_micros(u64::from(p.required_min_rx));
        self.remote_desired_tx = Duration::from_micros(u64::from(p.desired_min_tx));
        self.remote_mult = p.detect_mult;
        self.last_rx = now;
        if p.fin {
            self.poll = false;
        }
        match (self.state, p.state) {
            (_, State::AdminDown) if self.state != State::Down => {
                self.set_state(State::Down, DIAG_NEIGHBOR_DOWN)
            }
            (_, State::AdminDown) => {}
            (State::Down, State::Down) => self.set_state(State::Init, DIAG_NONE),
            (State::Down, State::Init) => self.set_state(State::Up, DIAG_NONE),
            (State::Init, State::Init | State::Up) => self.set_state(State::Up, DIAG_NONE),
            (State::Up, State::Down) => self.set_state(State::Down, DIAG_NEIGHBOR_DOWN),
            _ => {}
        }
        if p.poll || self.state != before {
            self.next_tx = now + self.tx_interval();
            return Some(self.packet(p.poll));
        }
        None
    }

    /// Detection timeout and periodic transmission.
    pub fn on_timer(&mut self, now: Instant, rng: &mut impl Rng) -> Option<Packet> {
        if self.state != State::Down && now >= self.last_rx + self.detect_time() {
            self.set_state(State::Down, DIAG_EXPIRED);
            self.remote_disc = 0;
        }
        if now < self.next_tx {
            return None;
        }
        // §6.8.7: 75-100 % of the interval (75-90 % with a multiplier of 1).
        let top = if self.mult == 1 { 90 } else { 100 };
        let pct: u32 = rng.random_range(75..=top);
        self.next_tx = now + self.tx_interval() * pct / 100;
        Some(self.packet(false))
    }

    /// When the next timer is due.
    pub fn next_event(&self) -> Instant {
        if self.state == State::Down {
            self.next_tx
        } else {
            self.next_tx.min(self.last_rx + self.detect_time())
        }
    }

    /// Silent and down for long enough to forget.
    pub fn expired(&self, now: Instant) -> bool {
        self.state == State::Down && now >= self.last_rx + FORGET_AFTER
    }

    /// The packet that says this end is going away.
    pub fn admin_down(&mut self) -> Packet {
        self.state = State::AdminDown;
        self.diag = DIAG_ADMIN_DOWN;
        self.packet(false)
    }
}

#[cfg(test)]
mod tests;
