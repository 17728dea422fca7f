//! BIRD 2's control socket: enable or disable the operator's static protocols and read their
//! state back.
//!
//! The socket speaks lines: each reply line starts with a four-digit code followed by `-`
//! (more lines follow) or a space (the last line of the reply); a line starting with a space
//! continues the previous code. Codes 8xxx and 9xxx are errors. `enable NAME` answers 0010
//! (already enabled) or 0011 (enabled), `disable NAME` 0008 or 0009; `show protocols NAME`
//! lists the protocol with code 1002 and its state (`up` when enabled and running, `down`
//! when disabled).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::AnycastError;

/// How long one command may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Lines one reply may have (a `show protocols` of one protocol has three).
const MAX_LINES: usize = 10_000;

/// One reply line: its code (the previous line's for a continuation) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub code: u16,
    pub text: String,
    pub last: bool,
}

/// Parse one line of a reply; `prev` is the code of the line before (for continuations).
pub fn parse_line(line: &str, prev: Option<u16>) -> Option<Line> {
    let line = line.trim_end_matches(['\n', '\r']);
    if let Some(rest) = line.strip_prefix(' ') {
        return Some(Line {
            code: prev?,
            text: rest.to_string(),
            last: false,
        });
    }
    let (code, rest) = (line.get(..4)?, line.get(4..)?);
    let code: u16 = code.parse().ok()?;
    let (sep, text) = match rest.chars().next() {
        None => (' ', ""),
        Some(c) => (c, &rest[1..]),
    };
    let last = match sep {
        ' ' => true,
        '-' => false,
        _ => return None,
    };
    Some(Line {
        code,
        text: text.to_string(),
        last,
    })
}

/// A protocol's state as `show protocols NAME` lists it: (name, state).
pub fn protocol_state(reply: &[Line], name: &str) -> Option<String> {
    reply.iter().filter(|l| l.code == 1002).find_map(|l| {
        let mut cols = l.text.split_whitespace();
        (cols.next()? == name).then_some(())?;
        let _proto = cols.next()?;
        let _table = cols.next()?;
        cols.next().map(str::to_string)
    })
}

/// A connection to BIRD's control socket, opened on first use and again after an error.
pub struct Bird {
    path: PathBuf,
    conn: Option<(BufReader<OwnedReadHalf>, OwnedWriteHalf)>,
}

impl Bird {
    pub fn new(path: &Path) -> Bird {
        Bird {
            path: path.to_path_buf(),
            conn: None,
        }
    }

    /// Send one command and return its reply; an error code is an error.
    pub async fn command(&mut self, cmd: &str) -> Result<Vec<Line>, AnycastError> {
        let path = self.path.clone();
        let res = tokio::time::timeout(TIMEOUT, self.exchange(cmd)).await;
        let res = match res {
            Ok(r) => r,
            Err(_) => Err(AnycastError::Bird {
                socket: path,
                message: format!("`{cmd}`: no reply within {} s", TIMEOUT.as_secs()),
            }),
        };
        if res.is_err() {
            self.conn = None;
        }
        res
    }

    async fn exchange(&mut self, cmd: &str) -> Result<Vec<Line>, AnycastError> {
        let err = |message: String| AnycastError::Bird {
            socket: self.path.clone(),
            message,
        };
        if self.conn.is_none() {
            let s = UnixStream::connect(&self.path)
                .await
                .map_err(|e| err(format!("connect: {e}")))?;
            let (r, w) = s.into_split();
            let mut r = BufReader::new(r);
            let hello = read_reply(&mut r)
                .await
                .map_err(|e| err(format!("greeting: {e}")))?;
            if hello.last().is_none_or(|l| l.code != 1) {
                return Err(err(format!("unexpected greeting {hello:?}")));
            }
            self.conn = Some((r, w));
        }
        let Some((r, w)) = self.conn.as_mut() else {
            return Err(err("not connected".into()));
        };
        w.write_all(format!("{cmd}\n").as_bytes())
            .await
            .map_err(|e| err(format!("`{cmd}`: {e}")))?;
        let reply = read_reply(r)
            .await
            .map_err(|e| err(format!("`{cmd}`: {e}")))?;
        if let Some(bad) = reply.iter().find(|l| l.code >= 8000) {
            return Err(err(format!("`{cmd}`: {} {}", bad.code, bad.text)));
        }
        Ok(reply)
    }

    /// `enable NAME` or `disable NAME`.
    pub async fn set_enabled(&mut self, name: &str, on: bool) -> Result<(), AnycastError> {
        let verb = if on { "enable" } else { "disable" };
        self.command(&format!("{verb} {name}")).await.map(drop)
    }

    /// The protocol's state (`up`, `down`, `start`, ...).
    pub async fn state(&mut self, name: &str) -> Result<String, AnycastError> {
        let reply = self.command(&format!("show protocols {name}")).await?;
        protocol_state(&reply, name).ok_or_else(|| AnycastError::Bird {
            socket: self.path.clone(),
            message: format!("`show protocols {name}` does not list {name}"),
        })
    }
}

async fn read_reply(r: &mut BufReader<OwnedReadHalf>) -> Result<Vec<Line>, String> {
    let mut out: Vec<Line> = Vec::new();
    let mut buf = String::new();
    for _ in 0..MAX_LINES {
        buf.clear();
        let n = r.read_line(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("BIRD closed the connection".into());
        }
        let line = parse_line(&buf, out.last().map(|l| l.code))
            .ok_or_else(|| format!("unparsable line {:?}", buf.trim_end()))?;
        let last = line.last;
        out.push(line);
        if last {
            return Ok(out);
        }
    }
    Err(format!("reply longer than {MAX_LINES} lines"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(lines: &[&str]) -> Vec<Line> {
        let mut out: Vec<Line> = Vec::new();
        for l in lines {
            let p = parse_line(l, out.last().map(|x| x.code)).unwrap();
            out.push(p);
        }
        out
    }

    #[test]
    fn lines_as_bird_sends_them() {
        let r = reply(&["0009-anycast_dns: disabled", "0000 "]);
        assert_eq!(r[0].code, 9);
        assert!(!r[0].last);
        assert!(r[1].last);
        let r = reply(&["1007-Table master4:", " 192.0.2.54/32  unicast", "0000 "]);
        assert_eq!(r[1].code, 1007);
        assert_eq!(parse_line("9001 syntax error", None).unwrap().code, 9001);
        assert!(parse_line("x", None).is_none());
        assert!(parse_line("00a1 x", None).is_none());
        assert!(parse_line(" orphan", None).is_none());
    }

    #[test]
    fn protocol_state_read_from_show_protocols() {
        let r = reply(&[
            "2002-Name       Proto      Table      State  Since         Info",
            "1002-anycast_dns Static     master4    down   17:37:15.410  ",
            "0000 ",
        ]);
        assert_eq!(protocol_state(&r, "anycast_dns").as_deref(), Some("down"));
        assert_eq!(protocol_state(&r, "other"), None);
    }
}
