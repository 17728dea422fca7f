//! Enum-like configuration values (HTTP method, DNS query type and RCODE, IPVS scheduler and
//! service flags), parsed once when the policy file is loaded.
//!
//! Runtime code matches on these types and never sees the strings again; a typo is refused at
//! load (so `meridian check` reports it with file, line and column) with the accepted values in
//! the message. Spellings are those the TOML always took, with the same case rules.

use std::fmt;
use std::str::FromStr;

use crate::dns::zonefile::rtype;

/// Why a string is not a valid value; the message lists what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

/// A value spelled as one of a fixed list of keywords.
pub trait Keyword: Copy + 'static {
    /// Every value, in the order messages list them.
    const ALL: &'static [Self];
    /// `GET` and `get` are the same value.
    const IGNORE_CASE: bool;

    /// The spelling in the policy file.
    fn keyword(self) -> &'static str;

    fn from_keyword(s: &str) -> Result<Self, ValueError> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| {
                if Self::IGNORE_CASE {
                    k.keyword().eq_ignore_ascii_case(s)
                } else {
                    k.keyword() == s
                }
            })
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|k| k.keyword()).collect();
                ValueError(format!("`{s}` is not one of {}", all.join(", ")))
            })
    }
}

/// `FromStr` through [`Keyword`] and `Display` from the type's own `as_str`.
macro_rules! keyword_traits {
    ($($t:ty),*) => {$(
        impl FromStr for $t {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                <$t as Keyword>::from_keyword(s)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

keyword_traits!(HttpMethod, Scheduler, LvsFlag, AdminRead);

/// Who may read the admin endpoint's `/status` and `/metrics` (`[server] admin_read`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AdminRead {
    /// Anyone who can reach the loopback address.
    #[default]
    Open,
    /// Only with the bearer token, like the state-changing calls.
    Token,
}

impl AdminRead {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Token => "token",
        }
    }
}

impl Keyword for AdminRead {
    const ALL: &'static [Self] = &[Self::Open, Self::Token];
    const IGNORE_CASE: bool = false;

    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

/// The request method of an http/https check (`method = "GET"`, any case).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
    Post,
    Options,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Options => "OPTIONS",
        }
    }
}

impl Keyword for HttpMethod {
    const ALL: &'static [Self] = &[Self::Get, Self::Head, Self::Post, Self::Options];
    const IGNORE_CASE: bool = true;

    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

/// An IPVS scheduler, by the kernel's module name (`ip_vs_<name>`); lower case only.
/// `twos` needs Linux 6.6 or later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    #[default]
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl Scheduler {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rr => "rr",
            Self::Wrr => "wrr",
            Self::Lc => "lc",
            Self::Wlc => "wlc",
            Self::Lblc => "lblc",
            Self::Lblcr => "lblcr",
            Self::Dh => "dh",
            Self::Sh => "sh",
            Self::Sed => "sed",
            Self::Nq => "nq",
            Self::Fo => "fo",
            Self::Ovf => "ovf",
            Self::Mh => "mh",
            Self::Twos => "twos",
        }
    }
}

impl Keyword for Scheduler {
    const ALL: &'static [Self] = &[
        Self::Rr,
        Self::Wrr,
        Self::Lc,
        Self::Wlc,
        Self::Lblc,
        Self::Lblcr,
        Self::Dh,
        Self::Sh,
        Self::Sed,
        Self::Nq,
        Self::Fo,
        Self::Ovf,
        Self::Mh,
        Self::Twos,
    ];
    const IGNORE_CASE: bool = false;

    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

/// An IPVS service flag (`flags = ["one-packet"]`); lower case only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LvsFlag {
    OnePacket,
    ShFallback,
    ShPort,
    MhFallback,
    MhPort,
}

impl LvsFlag {
    /// The scheduler that reads this flag, if it belongs to one (the kernel reuses the same
    /// bits for `sh-*` and `mh-*`, and other schedulers ignore them).
    pub fn scheduler(self) -> Option<Scheduler> {
        match self {
            Self::OnePacket => None,
            Self::ShFallback | Self::ShPort => Some(Scheduler::Sh),
            Self::MhFallback | Self::MhPort => Some(Scheduler::Mh),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnePacket => "one-packet",
            Self::ShFallback => "sh-fallback",
            Self::ShPort => "sh-port",
            Self::MhFallback => "mh-fallback",
            Self::MhPort => "mh-port",
        }
    }
}

impl Keyword for LvsFlag {
    const ALL: &'static [Self] = &[
        Self::OnePacket,
        Self::ShFallback,
        Self::ShPort,
        Self::MhFallback,
        Self::MhPort,
    ];
    const IGNORE_CASE: bool = false;

    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

/// The question type of a dns check: a type Meridian's zone files know, `ANY`, or `TYPEnnn`
/// (any case). Type 0 and OPT are refused: no server answers them as a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QType(u16);

const ANY: u16 = 255;

impl QType {
    pub const A: QType = QType(rtype::A);

    /// The type number sent in the question.
    pub fn code(self) -> u16 {
        self.0
    }
}

impl Default for QType {
    fn default() -> Self {
        QType::A
    }
}

impl FromStr for QType {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let code = if s.eq_ignore_ascii_case("ANY") {
            ANY
        } else {
            rtype::type_from_text(s.as_bytes()).map_err(|_| {
                let names: Vec<&str> = rtype::type_names().collect();
                ValueError(format!(
                    "`{s}` is not a record type; use one of {}, ANY or TYPEnnn",
                    names.join(", ")
                ))
            })?
        };
        match code {
            0 => Err(ValueError(format!("`{s}`: type 0 is reserved"))),
            rtype::OPT => Err(ValueError(format!(
                "`{s}`: OPT is a pseudo-record, not a question type"
            ))),
            _ => Ok(QType(code)),
        }
    }
}

impl fmt::Display for QType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == ANY {
            f.write_str("ANY")
        } else {
            f.write_str(&rtype::type_to_text(self.0))
        }
    }
}

/// The RCODE a dns check expects: a name (any case) or a number. Only the 4-bit header
/// RCODEs 0..=15: the probe sends no EDNS, so an extended RCODE can never come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rcode(u16);

const RCODES: &[(&str, u16)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("DSOTYPENI", 11),
];

impl Rcode {
    pub const NOERROR: Rcode = Rcode(0);

    /// The RCODE number as it appears in the reply header.
    pub fn code(self) -> u16 {
        self.0
    }
}

impl Default for Rcode {
    fn default() -> Self {
        Rcode::NOERROR
    }
}

impl FromStr for Rcode {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        if let Some(&(_, code)) = RCODES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Ok(Rcode(code));
        }
        match s.parse::<u16>() {
            Ok(code) if code <= 15 => Ok(Rcode(code)),
            _ => {
                let names: Vec<&str> = RCODES.iter().map(|&(n, _)| n).collect();
                Err(ValueError(format!(
                    "`{s}` is not one of {} or a header RCODE number 0..=15",
                    names.join(", ")
                )))
            }
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match RCODES.iter().find(|&&(_, c)| c == self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_round_trip() {
        for &m in HttpMethod::ALL {
            assert_eq!(m.as_str().parse::<HttpMethod>(), Ok(m));
        }
        for &s in Scheduler::ALL {
            assert_eq!(s.as_str().parse::<Scheduler>(), Ok(s));
        }
        for &a in AdminRead::ALL {
            assert_eq!(a.keyword().parse::<AdminRead>(), Ok(a));
        }
        for &f in LvsFlag::ALL {
            assert_eq!(f.to_string().parse::<LvsFlag>(), Ok(f));
        }
        assert_eq!("head".parse::<HttpMethod>(), Ok(HttpMethod::Head));
        assert!(
            "WLC".parse::<Scheduler>().is_err(),
            "kernel names are lower case"
        );
        let e = "fastest".parse::<Scheduler>().unwrap_err().to_string();
        assert!(
            e.contains("`fastest`") && e.contains("wlc") && e.contains("twos"),
            "{e}"
        );
        assert_eq!(LvsFlag::MhPort.scheduler(), Some(Scheduler::Mh));
    }

    #[test]
    fn qtypes() {
        assert_eq!("aaaa".parse::<QType>().map(QType::code), Ok(28));
        assert_eq!("TYPE65280".parse::<QType>().map(QType::code), Ok(65280));
        assert_eq!(
            "any".parse::<QType>().map(|t| t.to_string()).as_deref(),
            Ok("ANY")
        );
        assert_eq!(
            "ds".parse::<QType>().map(|t| t.to_string()).as_deref(),
            Ok("DS")
        );
        let e = "AAA".parse::<QType>().unwrap_err().to_string();
        assert!(
            e.contains("`AAA`") && e.contains("AAAA") && e.contains("TYPEnnn"),
            "{e}"
        );
        assert!("TYPE0".parse::<QType>().is_err());
        assert!("TYPE41".parse::<QType>().is_err());
        assert!("TYPE65536".parse::<QType>().is_err());
    }

    #[test]
    fn rcodes() {
        assert_eq!("noerror".parse::<Rcode>(), Ok(Rcode::NOERROR));
        assert_eq!("NXDOMAIN".parse::<Rcode>().map(Rcode::code), Ok(3));
        assert_eq!(
            "5".parse::<Rcode>().map(|r| r.to_string()).as_deref(),
            Ok("REFUSED")
        );
        assert_eq!(
            "15".parse::<Rcode>().map(|r| r.to_string()).as_deref(),
            Ok("15")
        );
        let e = "NXDOMIAN".parse::<Rcode>().unwrap_err().to_string();
        assert!(e.contains("NXDOMAIN") && e.contains("SERVFAIL"), "{e}");
        assert!("16".parse::<Rcode>().is_err(), "BADVERS needs EDNS");
    }
}
