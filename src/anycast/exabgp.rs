//! ExaBGP's process API: ExaBGP starts Meridian (`process ... { run meridian serve ...; }`),
//! reads commands from Meridian's standard output and, with `exabgp.api.ack = true` (the
//! default since 4.0), answers each with a line `done` or `error` on Meridian's standard
//! input. Logs go to standard error, so standard output carries only commands.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::AnycastError;
use super::decide::Route;
use crate::config::AnycastPrefix;

/// How long an acknowledgement may take.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest line read from ExaBGP.
const MAX_LINE: usize = 4096;

/// The command for `route` (None: nothing to send, e.g. a demotion without attributes).
pub fn command(p: &AnycastPrefix, route: Route) -> String {
    let base = format!("route {} next-hop {}", p.prefix, p.next_hop);
    match (route, &p.demote) {
        (Route::Announce, _) | (Route::Demote, None) => format!("announce {base}"),
        (Route::Withdraw, _) => format!("withdraw {base}"),
        (Route::Demote, Some(d)) => {
            let mut s = format!("announce {base}");
            if let Some(med) = d.med {
                s.push_str(&format!(" med {med}"));
            }
            if !d.as_path_prepend.is_empty() {
                let path: Vec<String> = d.as_path_prepend.iter().map(u32::to_string).collect();
                s.push_str(&format!(" as-path [ {} ]", path.join(" ")));
            }
            if !d.community.is_empty() {
                s.push_str(&format!(" community [ {} ]", d.community.join(" ")));
            }
            s
        }
    }
}

/// Standard output for commands, standard input for acknowledgements.
pub struct Exabgp {
    acks: mpsc::Receiver<String>,
    out: tokio::io::Stdout,
}

impl Exabgp {
    /// Starts the reader of standard input (it ends when ExaBGP closes the pipe).
    pub fn start() -> Exabgp {
        let (tx, acks) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut r = BufReader::new(tokio::io::stdin());
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line).await {
                    Ok(0) | Err(_) => {
                        tracing::warn!("ExaBGP closed Meridian's standard input");
                        return;
                    }
                    Ok(_) if line.len() > MAX_LINE => continue,
                    Ok(_) => {
                        if tx.send(line.trim().to_string()).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Exabgp {
            acks,
            out: tokio::io::stdout(),
        }
    }

    pub async fn apply(&mut self, p: &AnycastPrefix, route: Route) -> Result<(), AnycastError> {
        let cmd = command(p, route);
        let err = |message: String| AnycastError::Exabgp { message };
        // Acknowledgements of earlier commands that timed out are stale now.
        while self.acks.try_recv().is_ok() {}
        self.out
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .map_err(|e| err(format!("`{cmd}`: {e}")))?;
        self.out
            .flush()
            .await
            .map_err(|e| err(format!("`{cmd}`: {e}")))?;
        match tokio::time::timeout(ACK_TIMEOUT, self.acks.recv()).await {
            Ok(Some(a)) if a == "done" => Ok(()),
            Ok(Some(a)) => Err(err(format!("`{cmd}`: ExaBGP answered {a:?}"))),
            Ok(None) => Err(err(format!("`{cmd}`: ExaBGP closed the pipe"))),
            Err(_) => Err(err(format!(
                "`{cmd}`: no acknowledgement within {} s (is exabgp.api.ack off?)",
                ACK_TIMEOUT.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Demote;

    #[test]
    fn commands_as_exabgp_reads_them() {
        let mut p = AnycastPrefix {
            prefix: "2001:db8:53::/48".parse().unwrap(),
            bird_protocol: None,
            when: vec![],
            rise: 1,
            fall: 1,
            interval: Duration::from_secs(1),
            demote: None,
            disable_file: None,
            next_hop: "self".into(),
        };
        assert_eq!(
            command(&p, Route::Announce),
            "announce route 2001:db8:53::/48 next-hop self"
        );
        assert_eq!(
            command(&p, Route::Withdraw),
            "withdraw route 2001:db8:53::/48 next-hop self"
        );
        p.demote = Some(Demote {
            med: Some(200),
            as_path_prepend: vec![65001, 65001],
            community: vec!["65000:666".into()],
            bird_protocol: None,
        });
        assert_eq!(
            command(&p, Route::Demote),
            "announce route 2001:db8:53::/48 next-hop self med 200 as-path [ 65001 65001 ] community [ 65000:666 ]"
        );
    }
}
