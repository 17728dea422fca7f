//! The classifier on a real GeoLite2 City database (from the PyPI package
//! `maxminddb-geolite2`, installed into a venv under ~/.cache/meridian on first use).
//! The `maxminddb` reader's own per-address lookups are the oracle. Fails loudly if the
//! database cannot be had.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use meridian::geo::Classifier;

fn geolite2_city() -> PathBuf {
    if let Ok(p) = std::env::var("MERIDIAN_GEOLITE2_CITY") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").expect("HOME is not set");
    let cache = Path::new(&home).join(".cache/meridian");
    let venv = cache.join("geolite2-venv");
    let find = || -> Option<PathBuf> {
        let lib = venv.join("lib");
        for py in std::fs::read_dir(&lib).ok()? {
            let p = py
                .ok()?
                .path()
                .join("site-packages/_maxminddb_geolite2/GeoLite2-City.mmdb");
            if p.exists() {
                return Some(p);
            }
        }
        None
    };
    if let Some(p) = find() {
        return p;
    }
    std::fs::create_dir_all(&cache).expect("cannot create ~/.cache/meridian");
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "maxminddb-geolite2"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "could not install maxminddb-geolite2 into {}",
        venv.display()
    );
    find().expect("maxminddb-geolite2 installed but GeoLite2-City.mmdb not found")
}

#[test]
fn classifier_agrees_with_reader_on_geolite2_city() {
    let path = geolite2_city();
    let reader = maxminddb::Reader::open_readfile(&path).expect("open GeoLite2-City.mmdb");
    let cl = Classifier::from_parts(Some((&reader, &path)), None, &BTreeMap::new(), vec![])
        .expect("compile classifier from GeoLite2");
    assert!(cl.attributes().len() > 1000, "too few attribute sets");

    // Well-known anchors.
    let country = |ip: &str| {
        cl.classify(ip.parse().unwrap())
            .attrs
            .city
            .country
            .map(|c| c.to_string())
    };
    assert_eq!(country("8.8.8.8").as_deref(), Some("US"));
    assert_eq!(country("2001:4860:4860::8888").as_deref(), Some("US"));
    assert_eq!(country("::ffff:8.8.8.8").as_deref(), Some("US"));

    // Deterministic sample: every address's attributes equal the reader's record, and the
    // reported block is at least as wide as the database's own network (equal neighbours
    // merge) and uniform at its edges.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut with_country = 0;
    for i in 0..3000 {
        let ip: IpAddr = if i % 3 == 0 {
            let hi = 0x2000_0000_0000_0000u128 | (u128::from(next()) >> 4);
            Ipv6Addr::from((hi << 64) | u128::from(next())).into()
        } else {
            Ipv4Addr::from(next() as u32).into()
        };
        let got = cl.classify(ip);
        let res = reader.lookup(ip).unwrap();
        let city: Option<maxminddb::geoip2::City> = res.decode().unwrap();
        let want_country = city.as_ref().and_then(|c| {
            c.country
                .iso_code
                .or(c.registered_country.iso_code)
                .map(str::to_owned)
        });
        let want_sub = city
            .as_ref()
            .and_then(|c| c.subdivisions.first().and_then(|s| s.iso_code))
            .map(str::to_owned);
        let want_cont = city
            .as_ref()
            .and_then(|c| c.continent.code)
            .map(str::to_owned);
        let a = &got.attrs.city;
        assert_eq!(
            a.country.map(|c| c.to_string()),
            want_country,
            "{ip} country"
        );
        assert_eq!(
            a.subdivision.map(|c| c.to_string()),
            want_sub,
            "{ip} subdivision"
        );
        assert_eq!(
            a.continent.map(|c| c.to_string()),
            want_cont,
            "{ip} continent"
        );
        let want_lat = city.as_ref().and_then(|c| c.location.latitude);
        assert_eq!(a.location.map(|l| l.lat), want_lat, "{ip} latitude");
        with_country += usize::from(want_country.is_some());
        if res.has_data() {
            let net = res.network().unwrap();
            assert!(
                got.prefix_len <= net.prefix(),
                "{ip}: /{} narrower than {net}",
                got.prefix_len
            );
        }
        let (first, last) = match ip {
            IpAddr::V4(a) => {
                let host = 32 - u32::from(got.prefix_len);
                let s = u32::from(a) >> host << host;
                let e = s | ((1u64 << host) - 1) as u32;
                (
                    IpAddr::from(Ipv4Addr::from(s)),
                    IpAddr::from(Ipv4Addr::from(e)),
                )
            }
            IpAddr::V6(a) => {
                let host = 128 - u32::from(got.prefix_len);
                let m = if host == 128 {
                    u128::MAX
                } else {
                    (1u128 << host) - 1
                };
                let s = u128::from(a) & !m;
                (
                    IpAddr::from(Ipv6Addr::from(s)),
                    IpAddr::from(Ipv6Addr::from(s | m)),
                )
            }
        };
        assert_eq!(cl.classify(first).id, got.id, "{ip}: block start differs");
        assert_eq!(cl.classify(last).id, got.id, "{ip}: block end differs");
    }
    assert!(
        with_country > 1000,
        "only {with_country} sampled addresses had a country"
    );
}
