//! The steering keys of `[service.*]` and `[site.*]`: defaults, accepted values, and typos
//! reported as file:line:col: key: message.

use std::path::{Path, PathBuf};

use crate::config::{Config, Diagnostic, LinkFallback, Spill, parse};

fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/meridian.toml")
}

const HEAD: &str = r#"[server]
zones = "../zones"
[site.hq]
links = { telecom = ["203.0.113.10"], default = ["203.0.113.12"] }
[site.dr]
capacity = 3
links = { default = ["192.0.2.22"] }
[isp.telecom]
asn = [4134]
"#;

fn ok(service: &str) -> Config {
    parse(&format!("{HEAD}{service}"), &path()).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(service: &str) -> Vec<Diagnostic> {
    match parse(&format!("{HEAD}{service}"), &path()) {
        Ok(_) => panic!("accepted:\n{service}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

#[test]
fn weighted_without_weights_counts_each_site_once() {
    let c = ok(
        "[service.w]\nname = \"w.example.test\"\nsites = [\"hq\", \"dr\"]\nmode = \"weighted\"\n",
    );
    assert!(c.services["w"].weights.is_empty());
    // Only weights that are all 0 are refused.
    let d = errors(
        "[service.w]\nname = \"w.example.test\"\nsites = [\"hq\", \"dr\"]\nmode = \"weighted\"\nweights = { hq = 0, dr = 0 }\n",
    );
    assert_eq!(d[0].key, "service.w.weights", "{}", d[0]);
}

#[test]
fn steering_defaults_and_values() {
    let c = ok("[service.a]\nname = \"a.example.test\"\nsites = [\"hq\", \"dr\"]\nttl = 60\n");
    let a = &c.services["a"];
    assert_eq!((a.ttl, a.ttl_degraded), (60, 10));
    assert_eq!(
        (a.spill, a.link_fallback),
        (Spill::Next, LinkFallback::Default)
    );
    assert_eq!((c.sites["hq"].capacity, c.sites["dr"].capacity), (1, 3));
    assert_eq!(c.sites["hq"].link_order, ["telecom", "default"]);
    assert_eq!((a.name_pos.line, a.name_pos.column), (11, 8));
    let c = ok("[service.a]\nname = \"a.example.test\"\nsites = [\"hq\"]\nttl = 5\n");
    assert_eq!(c.services["a"].ttl_degraded, 5, "min(ttl, 10)");
    let c = ok(
        "[service.a]\nname = \"a.example.test\"\nsites = [\"hq\"]\nttl_degraded = 3\nspill = \"capacity\"\nlink_fallback = \"any\"\n",
    );
    let a = &c.services["a"];
    assert_eq!(
        (a.ttl_degraded, a.spill, a.link_fallback),
        (3, Spill::Capacity, LinkFallback::Any)
    );
}

#[test]
fn steering_typos_name_file_line_column_and_key() {
    let d = errors(
        "[service.a]\nname = \"a.example.test\"\nsites = [\"hq\"]\nttl = 20\nttl_degraded = 30\nspill = \"capcity\"\nlink_fallback = \"all\"\n",
    );
    let text: Vec<String> = d.iter().map(ToString::to_string).collect();
    let want = [
        ":14:16: service.a.ttl_degraded: 30 must not exceed ttl (20)",
        ":15:9: service.a.spill: `capcity` is not one of next, capacity",
        ":16:17: service.a.link_fallback: `all` is not one of default, any",
    ];
    for w in want {
        assert!(text.iter().any(|t| t.ends_with(w)), "{w} not in {text:#?}");
    }
    let d = match parse(&HEAD.replace("capacity = 3", "capacity = 0"), &path()) {
        Ok(_) => panic!("capacity 0 accepted"),
        Err(e) => e.diagnostics().to_vec(),
    };
    assert!(
        d[0].to_string()
            .ends_with(":6:12: site.dr.capacity: 0 is out of range 1..=1000000"),
        "{}",
        d[0]
    );
}
