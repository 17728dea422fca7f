//! The two BGP speakers: what "announce", "demote" and "withdraw" mean for each, and the
//! read-back that confirms it.
//!
//! BIRD: the prefix's static protocol (`bird_protocol`) is enabled to announce; with a
//! demotion, the second protocol (`demote.bird_protocol`, whose route carries the worse
//! attributes) is enabled instead; both disabled to withdraw. The new protocol is enabled
//! before the old one is disabled, so a demotion never leaves a gap. Every application
//! reads each protocol's state back with `show protocols`.
//!
//! ExaBGP: Meridian is one of ExaBGP's processes; see [`super::exabgp`].

use super::AnycastError;
use super::bird::Bird;
use super::decide::Route;
use super::exabgp::Exabgp;
use crate::config::AnycastPrefix;

pub enum Backend {
    Bird(Bird),
    Exabgp(Exabgp),
}

/// The (protocol, enabled) pairs that realise `route` for BIRD, in the order to apply.
pub fn bird_plan(p: &AnycastPrefix, route: Route) -> Vec<(String, bool)> {
    let main = p.bird_protocol.clone().unwrap_or_default();
    let demoted = p.demote.as_ref().and_then(|d| d.bird_protocol.clone());
    let mut plan = Vec::new();
    match (route, demoted) {
        (Route::Announce, d) => {
            plan.push((main, true));
            plan.extend(d.map(|d| (d, false)));
        }
        (Route::Demote, Some(d)) => {
            plan.push((d, true));
            plan.push((main, false));
        }
        (Route::Demote, None) => plan.push((main, true)),
        (Route::Withdraw, d) => {
            plan.push((main, false));
            plan.extend(d.map(|d| (d, false)));
        }
    }
    plan
}

impl Backend {
    /// Make the speaker carry `route` for `p`, and confirm it where the speaker can say.
    pub async fn apply(&mut self, p: &AnycastPrefix, route: Route) -> Result<(), AnycastError> {
        match self {
            Backend::Bird(b) => {
                for (name, on) in bird_plan(p, route) {
                    b.set_enabled(&name, on).await?;
                }
                Self::verify_bird(b, p, route).await
            }
            Backend::Exabgp(x) => x.apply(p, route).await,
        }
    }

    /// Whether the speaker still carries what was applied (BIRD may have been restarted or
    /// reconfigured by hand); ExaBGP cannot be asked: its relay must still run.
    pub async fn verify(&mut self, p: &AnycastPrefix, route: Route) -> Result<(), AnycastError> {
        match self {
            Backend::Bird(b) => Self::verify_bird(b, p, route).await,
            Backend::Exabgp(x) => x.verify(),
        }
    }

    async fn verify_bird(
        b: &mut Bird,
        p: &AnycastPrefix,
        route: Route,
    ) -> Result<(), AnycastError> {
        for (name, on) in bird_plan(p, route) {
            let state = b.state(&name).await?;
            // A disabled protocol is `down`; an enabled static protocol is `up` at once.
            let ok = if on { state == "up" } else { state == "down" };
            if !ok {
                return Err(AnycastError::Verify {
                    prefix: p.prefix,
                    message: format!(
                        "BIRD protocol {name} is {state}, expected {}",
                        if on { "up" } else { "down" }
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Demote;

    fn prefix(demoted: Option<&str>) -> AnycastPrefix {
        AnycastPrefix {
            prefix: "192.0.2.53/32".parse().unwrap(),
            bird_protocol: Some("a".into()),
            when: vec![],
            rise: 1,
            fall: 1,
            interval: std::time::Duration::from_secs(1),
            demote: demoted.map(|d| Demote {
                bird_protocol: Some(d.into()),
                ..Demote::default()
            }),
            disable_file: None,
            next_hop: "self".into(),
        }
    }

    #[test]
    fn plans_enable_the_new_route_before_disabling_the_old() {
        let on = |n: &str, b| (n.to_string(), b);
        assert_eq!(
            bird_plan(&prefix(None), Route::Announce),
            vec![on("a", true)]
        );
        assert_eq!(
            bird_plan(&prefix(None), Route::Withdraw),
            vec![on("a", false)]
        );
        let d = prefix(Some("b"));
        assert_eq!(
            bird_plan(&d, Route::Announce),
            vec![on("a", true), on("b", false)]
        );
        assert_eq!(
            bird_plan(&d, Route::Demote),
            vec![on("b", true), on("a", false)]
        );
        assert_eq!(
            bird_plan(&d, Route::Withdraw),
            vec![on("a", false), on("b", false)]
        );
    }
}
