//! Hostile input on the answer path: thousands of mutated, truncated and random queries
//! (bit flips, cut packets, bogus counts, compression pointers and loops, junk options), over
//! UDP and TCP, against a static zone and a service. None may panic, and every reply must be
//! a well-formed DNS response that fits the transport's limit and answers the right query.

use super::*;
use crate::test_rng::Rng;

fn seeds() -> Vec<Vec<u8>> {
    let ecs4: &[u8] = &[0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100];
    let ecs6: &[u8] = &[0, 8, 0, 8, 0, 2, 32, 0, 0x20, 0x01, 0x0d, 0xb8];
    let cookie: &[u8] = &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    vec![
        q("www.example.test", 1, None),
        q("WWW.example.test", 28, Some((0, &[]))),
        q("example.test", 255, Some((0, cookie))),
        q("nope.example.test", 15, Some((0, ecs4))),
        q("www.t.test", 1, Some((0, ecs4))),
        q("www.t.test", 28, Some((0, ecs6))),
        q("www.t.test", 1, None),
        q("t.test", 6, Some((1, &[]))),
        q("other.invalid", 1, None),
    ]
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut p = seed.to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(8) {
            0 if !p.is_empty() => {
                let i = rng.below(p.len());
                p[i] ^= 1 << rng.below(8);
            }
            0 => {}
            1 => p.truncate(rng.below(p.len() + 1)),
            2 => {
                for _ in 0..rng.below(40) {
                    p.push(rng.byte());
                }
            }
            3 => {
                // A count field (QD, AN, NS, AR) set to anything.
                let i = 4 + 2 * rng.below(4);
                if p.len() > i + 1 {
                    p[i] = rng.byte() % 4;
                    p[i + 1] = rng.byte();
                }
            }
            4 => {
                // A compression pointer where a label should be: forward, backward, self.
                let i = 12 + rng.below(p.len().saturating_sub(12));
                if p.len() > i + 1 {
                    p[i] = 0xC0 | (rng.byte() & 0x3F);
                    p[i + 1] = if rng.below(2) == 0 {
                        i as u8
                    } else {
                        rng.byte()
                    };
                }
            }
            5 => {
                // A label length byte that overruns or uses the reserved 0x40/0x80 forms.
                let i = 12 + rng.below(p.len().saturating_sub(12));
                if i < p.len() {
                    p[i] = [63, 64, 0x40 | 5, 0x80 | 1, 200][rng.below(5)];
                }
            }
            6 => {
                // Header flags and opcode: anything.
                if p.len() > 3 {
                    p[2] = rng.byte();
                    p[3] = rng.byte();
                }
            }
            _ => {
                let len = rng.below(64);
                p = (0..len).map(|_| rng.byte()).collect();
            }
        }
    }
    p
}

/// What every reply must satisfy, whatever the query was.
fn check_reply(query: &[u8], reply: &[u8], transport: Transport) -> Result<(), String> {
    if reply.is_empty() {
        return Ok(()); // dropped: allowed for input too broken to answer
    }
    if query.len() < 12 {
        return Err("answered a query shorter than a header".into());
    }
    if query[2] & 0x80 != 0 {
        return Err("answered a response (QR set): reflection".into());
    }
    if reply.len() < 12 || reply[..2] != query[..2] {
        return Err("reply does not carry the query's ID".into());
    }
    if reply[2] & 0x80 == 0 {
        return Err("reply has QR clear".into());
    }
    if reply[2] & 0x78 != query[2] & 0x78 {
        return Err("reply changed the opcode".into());
    }
    let limit = match transport {
        Transport::Udp => 1232,
        Transport::Tcp => usize::from(u16::MAX),
    };
    if reply.len() > limit {
        return Err(format!("reply of {} bytes over {limit}", reply.len()));
    }
    Message::from_vec(reply).map_err(|e| format!("reply does not parse: {e}"))?;
    Ok(())
}

#[test]
fn mutated_and_random_queries_get_well_formed_replies_or_none() {
    let snaps = [snapshot(), service_snapshot()];
    let client: SocketAddr = "198.51.100.7:5000".parse().unwrap();
    let seeds = seeds();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::new();
    let (mut answered, mut failures) = (0usize, Vec::new());
    for i in 0..20_000 {
        let query = mutate(&mut rng, &seeds[i % seeds.len()]);
        let transport = if i % 3 == 0 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let snap = &snaps[i % 2];
        answer(snap, &query, client, transport, &mut out);
        answered += usize::from(!out.is_empty());
        if let Err(why) = check_reply(&query, &out, transport)
            && failures.len() < 10
        {
            failures.push(format!("#{i} {why}: query {query:02x?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Most mutations leave a parsable header: they must mostly be answered (FORMERR at worst).
    assert!(answered > 10_000, "only {answered} of 20000 answered");
}

/// The unmutated seeds themselves all get a reply.
#[test]
fn every_seed_is_answered() {
    let snaps = [snapshot(), service_snapshot()];
    let client: SocketAddr = "198.51.100.7:5000".parse().unwrap();
    let mut out = Vec::new();
    for seed in seeds() {
        for snap in &snaps {
            answer(snap, &seed, client, Transport::Udp, &mut out);
            check_reply(&seed, &out, Transport::Udp).unwrap();
            assert!(!out.is_empty(), "{seed:02x?}");
        }
    }
}
