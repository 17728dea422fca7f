//! Test fixture shared by the geo and policy unit tests: small City and ASN databases over
//! the documentation prefixes and sub-prefixes of 127.0.0.0/8, written as real MMDB files
//! into a temporary folder, and a configuration that uses them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::{Config, Geo, HealthSettings, Isp, Server};

pub const CITY_CSV: &str = "\
# network,continent,country,subdivision,latitude,longitude
192.0.2.0/24,NA,US,CA,37.4,-122.1
198.51.100.0/24,EU,DE,BE,52.5,13.4
203.0.113.0/24,AS,CN,BJ,39.9,116.4
2001:db8::/32,OC,AU,NSW,-33.9,151.2
2001:db8:cafe::/48,AS,CN,SH,31.2,121.5
127.1.0.0/16,AS,JP,13,35.7,139.7
127.2.0.0/16,EU,FR,IDF,48.9,2.35
127.2.128.0/17,EU,FR,PAC,43.3,5.4
127.3.0.0/16,NA,US,NY,40.7,-74.0
127.4.0.0/16,,,,,
";

pub const ASN_CSV: &str = "\
# network,asn,organization
192.0.2.0/25,64500,Example One, Inc.
203.0.113.0/24,4134,Chinanet
127.1.0.0/16,4837,China Unicom
2001:db8:cafe::/48,4812,China Telecom Shanghai
";

pub const TELECOM_TXT: &str = "\
# telecom extra prefixes
198.51.100.128/25
127.1.3.0/24
";

/// A temporary folder holding `city.mmdb`, `asn.mmdb` and `telecom.txt`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let city = super::csv_to_mmdb(CITY_CSV, "city.csv".as_ref(), super::Kind::City).unwrap();
        let asn = super::csv_to_mmdb(ASN_CSV, "asn.csv".as_ref(), super::Kind::Asn).unwrap();
        std::fs::write(dir.path().join("city.mmdb"), city).unwrap();
        std::fs::write(dir.path().join("asn.mmdb"), asn).unwrap();
        std::fs::write(dir.path().join("telecom.txt"), TELECOM_TXT).unwrap();
        Fixture { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A configuration with the databases and two ISPs, no sites or services.
    pub fn config(&self) -> Config {
        let mut isps = BTreeMap::new();
        isps.insert(
            "telecom".to_owned(),
            Isp {
                asns: vec![4134, 4812],
                // As the configuration loader gives it: the file's networks, read.
                cidrs: crate::config::read_cidr_file(&self.path("telecom.txt")).unwrap(),
                cidr_files: vec![self.path("telecom.txt")],
            },
        );
        isps.insert(
            "unicom".to_owned(),
            Isp {
                asns: vec![4837],
                cidrs: vec!["127.5.0.0/16".parse().unwrap()],
                cidr_files: vec![],
            },
        );
        Config {
            source: self.path("meridian.toml"),
            server: Server {
                listen: vec![],
                udp_threads: 1,
                ..Server::default()
            },
            geo: Geo {
                city: Some(self.path("city.mmdb")),
                asn: Some(self.path("asn.mmdb")),
            },
            isps,
            sites: BTreeMap::new(),
            services: BTreeMap::new(),
            health: HealthSettings::default(),
            overrides: vec![],
            lvs: None,
            cluster: None,
            anycast: None,
        }
    }
}
