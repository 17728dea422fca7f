//! DNS probes: one UDP query (RD clear) to the target; up when the reply carries the expected
//! RCODE and, if an `answer` is configured, an answer record whose data equals it.
//!
//! The query is encoded once; each probe only writes a fresh random ID into its first two
//! bytes. Replies with another ID, or that do not parse, are ignored until the timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

use crate::config::CheckKind;
use crate::health::HealthError;
use crate::health::targets::ProbeKey;

use super::io_reason;

#[derive(Debug)]
pub(super) struct DnsProbe {
    query: Vec<u8>,
    rcode: ResponseCode,
    answer: Option<String>,
}

/// Presentation forms compare without case and without a trailing dot on names.
fn normalize(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl DnsProbe {
    pub(super) fn new(key: &ProbeKey) -> Result<DnsProbe, HealthError> {
        let bad = |message: String| HealthError::Check {
            key: key.to_string(),
            message,
        };
        let CheckKind::Dns {
            query,
            qtype,
            rcode,
            answer,
        } = &key.check.kind
        else {
            return Err(bad("not a dns check".into()));
        };
        let mut name = Name::from_str(query).map_err(|e| bad(format!("query {query}: {e}")))?;
        name.set_fqdn(true);
        let rtype = RecordType::from(qtype.code());
        let rcode = <ResponseCode as From<u16>>::from(rcode.code());
        let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = false;
        msg.add_query(Query::query(name, rtype));
        let query = msg
            .to_vec()
            .map_err(|e| bad(format!("cannot encode query: {e}")))?;
        Ok(DnsProbe {
            query,
            rcode,
            answer: answer.as_deref().map(normalize),
        })
    }

    pub(super) async fn probe(&self, key: &ProbeKey) -> Result<String, String> {
        let local: SocketAddr = match key.addr.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(local)
            .await
            .map_err(|e| io_reason("bind", &e))?;
        sock.connect(key.addr)
            .await
            .map_err(|e| io_reason("connect", &e))?;
        let id: u16 = rand::random_range(0..=u16::MAX);
        let mut query = self.query.clone();
        query[..2].copy_from_slice(&id.to_be_bytes());
        sock.send(&query).await.map_err(|e| io_reason("send", &e))?;
        let mut buf = vec![0u8; 4096];
        loop {
            // A refused port shows up as an ICMP error on the connected socket.
            let n = sock
                .recv(&mut buf)
                .await
                .map_err(|e| io_reason("recv", &e))?;
            let Ok(reply) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if reply.metadata.id != id || reply.metadata.message_type != MessageType::Response {
                continue;
            }
            return self.judge(&reply);
        }
    }

    fn judge(&self, reply: &Message) -> Result<String, String> {
        let got = reply.metadata.response_code;
        if got != self.rcode {
            return Err(format!("rcode {got:?}, want {:?}", self.rcode));
        }
        let Some(want) = &self.answer else {
            return Ok(format!("rcode {got:?}"));
        };
        if reply
            .answers
            .iter()
            .any(|r| normalize(&r.data.to_string()) == *want)
        {
            Ok(format!("rcode {got:?}, answer {want}"))
        } else {
            Err(format!("rcode {got:?}, no answer {want}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rcode;

    #[test]
    fn config_rcodes_map_to_hickory() {
        let code = |s: &str| <ResponseCode as From<u16>>::from(s.parse::<Rcode>().unwrap().code());
        assert_eq!(code("noerror"), ResponseCode::NoError);
        assert_eq!(code("NXDOMAIN"), ResponseCode::NXDomain);
        assert_eq!(code("5"), ResponseCode::Refused);
    }

    #[test]
    fn names_compare_loosely() {
        assert_eq!(normalize("WWW.Example.test."), "www.example.test");
        assert_eq!(normalize("192.0.2.1"), "192.0.2.1");
    }
}
