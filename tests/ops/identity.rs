//! The node's identity with the real `dig`: NSID (RFC 5001, `dig +nsid`) and CH TXT
//! `id.server.` / `hostname.bind.`, answered with the configured name when turned on; when
//! off (the default), no NSID option and CH queries refused, as before.

use std::net::SocketAddr;
use std::process::Command;

use crate::node::Site;

fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "+time=2", "+tries=2"])
        .args(args)
        .output()
        .expect("dig (Debian package dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "dig {args:?}:\n{text}");
    text
}

/// The text of the NSID line of `dig +nsid` (`; NSID: 68 71 ... ("hq-ns1")`), if any.
fn nsid_line(text: &str) -> Option<&str> {
    text.lines().find(|l| l.starts_with("; NSID:"))
}

#[test]
fn identity_on_answers_nsid_and_chaos() {
    let site = Site::new("identity = \"hq-ns1\"\nnsid = true\nchaos_id = true\n", "");
    let mut node = site.start(&[]);
    node.wait_answering(site.addr);

    let out = dig(site.addr, &["+nsid", "www.example.test", "A"]);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("192.0.2.80"), "{out}");
    let line = nsid_line(&out).unwrap_or_else(|| panic!("no NSID:\n{out}"));
    assert!(line.contains("68 71 2d 6e 73 31"), "{line}");
    assert!(line.contains("\"hq-ns1\""), "{line}");
    // Over TCP too, and on a negative answer.
    let out = dig(site.addr, &["+nsid", "+tcp", "nope.example.test", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(
        nsid_line(&out).is_some_and(|l| l.contains("hq-ns1")),
        "{out}"
    );
    // Without +nsid, no option.
    let out = dig(site.addr, &["www.example.test", "A"]);
    assert!(nsid_line(&out).is_none(), "{out}");

    for name in ["id.server", "hostname.bind", "ID.SERVER"] {
        let out = dig(site.addr, &["CH", "TXT", name]);
        assert!(out.contains("status: NOERROR"), "{name}:\n{out}");
        assert!(out.contains(" aa"), "{name}: not authoritative:\n{out}");
        let answer = out
            .lines()
            .find(|l| !l.starts_with(';') && l.contains("TXT"))
            .unwrap_or_else(|| panic!("{name}: no answer:\n{out}"));
        assert!(answer.contains("CH"), "{answer}");
        assert!(answer.ends_with("\"hq-ns1\""), "{answer}");
    }
    // Other CH questions stay refused.
    for args in [["CH", "TXT", "version.bind"], ["CH", "A", "id.server"]] {
        let out = dig(site.addr, &args);
        assert!(out.contains("status: REFUSED"), "{args:?}:\n{out}");
    }
}

#[test]
fn identity_off_by_default() {
    let site = Site::new("", "");
    let mut node = site.start(&[]);
    node.wait_answering(site.addr);
    let out = dig(site.addr, &["+nsid", "www.example.test", "A"]);
    assert!(
        out.contains("status: NOERROR") && out.contains("192.0.2.80"),
        "{out}"
    );
    assert!(nsid_line(&out).is_none(), "NSID sent while off:\n{out}");
    for name in ["id.server", "hostname.bind"] {
        let out = dig(site.addr, &["CH", "TXT", name]);
        assert!(out.contains("status: REFUSED"), "{name}:\n{out}");
    }
}

#[test]
fn reload_turns_identity_on_and_the_node_name_is_the_default() {
    let site = Site::new("", "");
    let mut node = site.start(&[]);
    node.wait_answering(site.addr);
    assert!(nsid_line(&dig(site.addr, &["+nsid", "example.test", "SOA"])).is_none());
    // No `identity`: the host name, as `hostname` prints it.
    site.write_config("nsid = true\nchaos_id = true\n", "");
    node.signal("HUP");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    let mut last = String::new();
    for _ in 0..50 {
        last = dig(site.addr, &["CH", "TXT", "id.server", "+short"]);
        if last.trim() == format!("\"{host}\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(last.trim(), format!("\"{host}\""), "{}", node.stderr());
    let out = dig(site.addr, &["+nsid", "example.test", "SOA"]);
    assert!(
        nsid_line(&out).is_some_and(|l| l.contains(&format!("(\"{host}\")"))),
        "{out}"
    );
}
