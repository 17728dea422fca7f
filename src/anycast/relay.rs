//! The ExaBGP relay's decisions, pure (time is an argument): a small child process
//! (`meridian exabgp-relay`, [`shell`]) owns ExaBGP's pipes in Meridian's place and is the
//! only writer of commands and the only reader of acknowledgements, so:
//!
//! - every line reaches ExaBGP whole (one writer), and every `done`/`error` is matched to
//!   the line it answers, in order (ExaBGP answers its process's commands in order): the
//!   answer to Meridian's command goes back to Meridian, the answer to one of the relay's
//!   own lines stays here;
//! - Meridian's lines are forwarded, and the relay keeps the announcement in force for each
//!   prefix (from `announce route P ...` / `withdraw route P ...`);
//! - when Meridian sends nothing, not even its heartbeat, for the watchdog period (SIGSTOP,
//!   a wedged runtime), the relay withdraws every announced prefix; the next line from
//!   Meridian restores them as they were (exactly what Meridian believes it applied), then
//!   is forwarded, so Meridian's own decisions take over again;
//! - when Meridian's end closes (it died, kill -9 included), the relay withdraws everything
//!   and exits: ExaBGP then sees its process gone and respawns it.

pub mod shell;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How long an acknowledgement may take before the relay stops waiting for it.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// Meridian's heartbeat line.
pub const HEARTBEAT: &str = "hb";

/// Who wrote a line that ExaBGP will acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Meridian,
    Relay,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// A command line for ExaBGP (standard output).
    Exabgp(String),
    /// An acknowledgement for Meridian.
    Meridian(String),
    /// A line for the log (standard error).
    Log(String),
}

/// The relay's state.
#[derive(Debug)]
pub struct Relay {
    watchdog: Duration,
    /// Prefix -> the announcement Meridian last made for it.
    announced: BTreeMap<String, String>,
    /// Lines written to ExaBGP whose acknowledgement has not come, oldest first.
    pending: VecDeque<(Origin, Instant)>,
    last_heard: Instant,
    /// The watchdog withdrew the announced prefixes.
    tripped: bool,
}

/// `announce route P next-hop NH ...` -> `withdraw route P next-hop NH`.
pub fn withdrawal_of(announce: &str) -> Option<String> {
    let words: Vec<&str> = announce.split_whitespace().collect();
    if words.len() < 3 || words[0] != "announce" || words[1] != "route" {
        return None;
    }
    let mut w = format!("withdraw route {}", words[2]);
    if let Some(i) = words.iter().position(|t| *t == "next-hop")
        && let Some(nh) = words.get(i + 1)
    {
        w.push_str(&format!(" next-hop {nh}"));
    }
    Some(w)
}

impl Relay {
    pub fn new(watchdog: Duration, now: Instant) -> Relay {
        Relay {
            watchdog,
            announced: BTreeMap::new(),
            pending: VecDeque::new(),
            last_heard: now,
            tripped: false,
        }
    }

    /// The next instant [`Relay::tick`] has something to do.
    pub fn deadline(&self) -> Instant {
        let watchdog = if self.tripped {
            None
        } else {
            Some(self.last_heard + self.watchdog)
        };
        let ack = self.pending.front().map(|(_, at)| *at + ACK_TIMEOUT);
        [watchdog, ack]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.last_heard + self.watchdog)
    }

    /// Whether an acknowledgement for one of the relay's own lines is still due.
    pub fn own_pending(&self) -> bool {
        self.pending.iter().any(|(o, _)| *o == Origin::Relay)
    }

    fn send_own(&mut self, line: String, now: Instant, out: &mut Vec<Out>) {
        self.pending.push_back((Origin::Relay, now));
        out.push(Out::Exabgp(line));
    }

    fn withdraw_all(&mut self, now: Instant, out: &mut Vec<Out>) {
        let lines: Vec<String> = self
            .announced
            .values()
            .filter_map(|a| withdrawal_of(a))
            .collect();
        for l in lines {
            self.send_own(l, now, out);
        }
    }

    /// A line from Meridian: a heartbeat or a command.
    pub fn from_meridian(&mut self, line: &str, now: Instant) -> Vec<Out> {
        let mut out = Vec::new();
        self.last_heard = now;
        if self.tripped {
            self.tripped = false;
            out.push(Out::Log(format!(
                "Meridian is heard again: restoring {} announcement(s)",
                self.announced.len()
            )));
            let lines: Vec<String> = self.announced.values().cloned().collect();
            for l in lines {
                self.send_own(l, now, &mut out);
            }
        }
        let line = line.trim();
        if line == HEARTBEAT || line.is_empty() {
            return out;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match (words.first(), words.get(1), words.get(2)) {
            (Some(&"announce"), Some(&"route"), Some(p)) => {
                self.announced.insert((*p).to_string(), line.to_string());
            }
            (Some(&"withdraw"), Some(&"route"), Some(p)) => {
                self.announced.remove(*p);
            }
            _ => {}
        }
        self.pending.push_back((Origin::Meridian, now));
        out.push(Out::Exabgp(line.to_string()));
        out
    }

    /// A line from ExaBGP.
    pub fn from_exabgp(&mut self, line: &str) -> Vec<Out> {
        let line = line.trim();
        if line != "done" && line != "error" {
            return if line.is_empty() {
                vec![]
            } else {
                vec![Out::Log(format!("ExaBGP says {line:?} (ignored)"))]
            };
        }
        match self.pending.pop_front() {
            Some((Origin::Meridian, _)) => vec![Out::Meridian(line.to_string())],
            Some((Origin::Relay, _)) if line == "error" => {
                vec![Out::Log("ExaBGP refused one of the relay's lines".into())]
            }
            Some((Origin::Relay, _)) => vec![],
            None => vec![Out::Log(format!(
                "ExaBGP answered {line:?} to no outstanding line (an earlier process's); ignored"
            ))],
        }
    }

    /// Time passes: the watchdog, and acknowledgements that never came.
    pub fn tick(&mut self, now: Instant) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some((_, at)) = self.pending.front() {
            if now < *at + ACK_TIMEOUT {
                break;
            }
            self.pending.pop_front();
            out.push(Out::Log(
                "no acknowledgement from ExaBGP within 2 s (is exabgp.api.ack off?)".into(),
            ));
        }
        if !self.tripped && now >= self.last_heard + self.watchdog {
            self.tripped = true;
            out.push(Out::Log(format!(
                "Meridian silent for {} ms (watchdog): withdrawing {} announcement(s)",
                now.saturating_duration_since(self.last_heard).as_millis(),
                self.announced.len()
            )));
            self.withdraw_all(now, &mut out);
        }
        out
    }

    /// Meridian's end closed: withdraw everything (unless the watchdog already did).
    pub fn meridian_gone(&mut self, now: Instant) -> Vec<Out> {
        let mut out = vec![Out::Log(format!(
            "Meridian is gone: withdrawing {} announcement(s)",
            if self.tripped {
                0
            } else {
                self.announced.len()
            }
        ))];
        if !self.tripped {
            self.withdraw_all(now, &mut out);
        }
        self.tripped = true;
        self.announced.clear();
        out
    }
}

#[cfg(test)]
mod tests;
