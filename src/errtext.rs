//! One line of text for an error and its causes, for the edge (standard error, `/status`
//! strings). Many of Meridian's errors already quote their cause in their own message
//! (`cannot listen on 127.0.0.1:53: Address in use`) and also expose it as `source()`, so
//! printing the chain as `anyhow`'s `{:#}` does says the cause twice. [`chain`] adds a cause
//! only when the text so far does not already end with it.

use std::error::Error;

/// `outer: cause: cause ...`, each cause once.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let c = cause.to_string();
        if !c.is_empty() && !text.ends_with(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("{path}: not found")]
        NotFound { path: String },
    }

    #[derive(Debug, thiserror::Error)]
    enum Quoting {
        #[error("{source}")]
        Read { source: Inner },
        #[error("health checks: {0}")]
        Health(#[from] std::io::Error),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("loading the zones")]
    struct Silent {
        #[source]
        source: Inner,
    }

    #[test]
    fn a_cause_the_message_already_quotes_is_said_once() {
        let e = Quoting::Read {
            source: Inner::NotFound {
                path: "/x.toml".into(),
            },
        };
        assert_eq!(chain(&e), "/x.toml: not found");
        let e = anyhow::Error::new(Quoting::Health(std::io::Error::other("refused")));
        assert_eq!(chain(e.as_ref()), "health checks: refused");
        let e =
            anyhow::Error::new(Quoting::Health(std::io::Error::other("refused"))).context("serve");
        assert_eq!(chain(e.as_ref()), "serve: health checks: refused");
    }

    #[test]
    fn a_cause_the_message_does_not_quote_is_added() {
        let e = Silent {
            source: Inner::NotFound { path: "z".into() },
        };
        assert_eq!(chain(&e), "loading the zones: z: not found");
    }
}
