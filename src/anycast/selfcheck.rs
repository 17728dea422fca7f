//! The `dns` condition: this node answers. A real query (SOA of the first zone loaded) goes
//! to every listen address over UDP; each must answer authoritatively with NOERROR.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

/// Where to send the self-query for a listen address (a wildcard listens on loopback too).
pub fn target(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(a) if a.is_unspecified() => (Ipv4Addr::LOCALHOST, listen.port()).into(),
        IpAddr::V6(a) if a.is_unspecified() => (Ipv6Addr::LOCALHOST, listen.port()).into(),
        _ => listen,
    }
}

/// Query every address; Err names the first that failed and why.
pub async fn check(
    listen: &[SocketAddr],
    origin: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let Some(origin) = origin else {
        return Err("no zone is loaded".into());
    };
    for l in listen {
        let to = target(*l);
        match tokio::time::timeout(timeout, query(to, origin)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("{to}: {e}")),
            Err(_) => return Err(format!("{to}: no answer within {} ms", timeout.as_millis())),
        }
    }
    Ok(())
}

async fn query(to: SocketAddr, origin: &str) -> Result<(), String> {
    let mut name = Name::from_str(origin).map_err(|e| format!("zone name {origin}: {e}"))?;
    name.set_fqdn(true);
    let id: u16 = rand::random();
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    msg.add_query(Query::query(name, RecordType::SOA));
    let bytes = msg.to_vec().map_err(|e| format!("encode: {e}"))?;
    let local: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    sock.connect(to)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    sock.send(&bytes).await.map_err(|e| format!("send: {e}"))?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..16 {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| format!("recv: {e}"))?;
        let Ok(reply) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if reply.metadata.id != id || reply.metadata.message_type != MessageType::Response {
            continue;
        }
        if reply.metadata.response_code != ResponseCode::NoError {
            return Err(format!("rcode {:?}", reply.metadata.response_code));
        }
        if !reply.metadata.authoritative {
            return Err("answer not authoritative".into());
        }
        return Ok(());
    }
    Err("no matching reply".into())
}
