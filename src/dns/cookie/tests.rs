//! The server cookie against the published examples of RFC 9018 Appendix A, and the
//! verdicts of RFC 7873 section 5.2.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn secret(s: &str) -> CookieSecret {
    CookieSecret::from_bytes(hex(s).try_into().unwrap())
}

fn cookie(s: &str) -> Cookie {
    Cookie::parse(&hex(s)).unwrap()
}

const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";

#[test]
fn rfc9018_appendix_a_server_cookies() {
    // (secret, client cookie, client address, time, server cookie)
    let cases = [
        // A.1: a client learns a new server cookie.
        (
            SECRET,
            "2464c4abcf10c957",
            "198.51.100.100",
            1559731985,
            "010000005cf79f111f8130c3eee29480",
        ),
        // A.2: the same client, 40 minutes later, gets a renewed one.
        (
            SECRET,
            "2464c4abcf10c957",
            "198.51.100.100",
            1559734385,
            "010000005cf7a871d4a564a1442aca77",
        ),
        // A.3: another client.
        (
            SECRET,
            "fc93fc62807ddb86",
            "203.0.113.203",
            1559734700,
            "010000005cf7a9acf73a7810aca2381e",
        ),
    ];
    for (s, client, ip, now, want) in cases {
        let c: [u8; 8] = hex(client).try_into().unwrap();
        let got = server_cookie(&secret(s), &c, ip.parse().unwrap(), now);
        assert_eq!(got.to_vec(), hex(want), "{client} at {now}");
    }
}

#[test]
fn rfc9018_appendix_a_verdicts() {
    let a1 = cookie("2464c4abcf10c957010000005cf79f111f8130c3eee29480");
    let ip: IpAddr = "198.51.100.100".parse().unwrap();
    // A.2: the cookie of A.1 comes back 40 minutes later: valid, and renewed (over 30 min).
    assert_eq!(
        check(&secret(SECRET), &a1, ip, 1559734385),
        (Verdict::Valid, true)
    );
    let r = reply(&secret(SECRET), &a1, ip, 1559734385, true);
    assert_eq!(
        r.to_vec(),
        hex("2464c4abcf10c957010000005cf7a871d4a564a1442aca77")
    );
    // Ten minutes after it was made it is echoed as it is.
    assert_eq!(
        check(&secret(SECRET), &a1, ip, 1559731985 + 600),
        (Verdict::Valid, false)
    );
    let r = reply(&secret(SECRET), &a1, ip, 1559731985 + 600, false);
    assert_eq!(
        r.to_vec(),
        hex("2464c4abcf10c957010000005cf79f111f8130c3eee29480")
    );
    // A.3: reserved bytes a client left non-zero are hashed as sent.
    let a3 = cookie("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
    let ip3: IpAddr = "203.0.113.203".parse().unwrap();
    assert_eq!(
        check(&secret(SECRET), &a3, ip3, 1559727985 + 10).0,
        Verdict::Valid
    );
    // A.4: an IPv6 client holding a cookie of the previous secret.
    let a4 = cookie("22681ab97d52c298010000005cf7c57926556bd0934c72f8");
    let ip6: IpAddr = "2001:db8:220:1:59de:d0f4:8769:82b8".parse().unwrap();
    let at = 1559741817;
    assert_eq!(
        check(&secret("dd3bdf9344b678b185a6f5cb60fca715"), &a4, ip6, at).0,
        Verdict::Valid
    );
    assert_eq!(
        check(&secret("445536bcd2513298075a5d379663c962"), &a4, ip6, at).0,
        Verdict::ClientOnly
    );
}

#[test]
fn what_is_not_valid() {
    let s = secret(SECRET);
    let ip: IpAddr = "198.51.100.100".parse().unwrap();
    let client: [u8; 8] = hex("2464c4abcf10c957").try_into().unwrap();
    let now = 1_700_000_000u32;
    let made = |at: u32| {
        let mut b = client.to_vec();
        b.extend_from_slice(&server_cookie(&s, &client, ip, at));
        Cookie::parse(&b).unwrap()
    };
    assert_eq!(check(&s, &made(now), ip, now), (Verdict::Valid, false));
    assert_eq!(check(&s, &made(now - 3600), ip, now).0, Verdict::Valid);
    assert_eq!(check(&s, &made(now - 3601), ip, now).0, Verdict::ClientOnly);
    assert_eq!(check(&s, &made(now + 300), ip, now), (Verdict::Valid, true));
    assert_eq!(check(&s, &made(now + 301), ip, now).0, Verdict::ClientOnly);
    // Another address, another client cookie, a flipped bit, version 2, 8 bytes only.
    let other: IpAddr = "198.51.100.101".parse().unwrap();
    assert_eq!(check(&s, &made(now), other, now).0, Verdict::ClientOnly);
    let mut b = made(now);
    b.client[0] ^= 1;
    assert_eq!(check(&s, &b, ip, now).0, Verdict::ClientOnly);
    let mut raw = client.to_vec();
    raw.extend_from_slice(&server_cookie(&s, &client, ip, now));
    raw[23] ^= 0x80;
    assert_eq!(
        check(&s, &Cookie::parse(&raw).unwrap(), ip, now).0,
        Verdict::ClientOnly
    );
    raw[23] ^= 0x80;
    raw[8] = 2;
    assert_eq!(
        check(&s, &Cookie::parse(&raw).unwrap(), ip, now).0,
        Verdict::ClientOnly
    );
    let only = Cookie::parse(&client).unwrap();
    assert_eq!(check(&s, &only, ip, now), (Verdict::ClientOnly, true));
    // The timestamp wraps in 2106 without breaking the age.
    assert_eq!(check(&s, &made(u32::MAX - 10), ip, 20).0, Verdict::Valid);
}

#[test]
fn option_lengths_follow_rfc7873_section_5_2_2() {
    for len in 0..50usize {
        let ok = len == 8 || (16..=40).contains(&len);
        assert_eq!(Cookie::parse(&vec![7u8; len]).is_some(), ok, "{len}");
    }
    let c = Cookie::parse(&[1u8; 40]).unwrap();
    assert_eq!(c.server().len(), 32);
}
