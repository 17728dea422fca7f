//! The Debian package, built by `scripts/build-deb.sh` (cargo-deb) and examined with the
//! real tools: `dpkg-deb` for the control fields, conffiles, maintainer scripts and the
//! files; the packaged binary checks the packaged configuration; `lintian` reports no
//! error (E:). Its warnings are printed and listed in docs/operations.md.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is the tool installed?)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Builds the package into `dir` and returns its path.
fn build(dir: &Path) -> PathBuf {
    let version = Command::new("cargo").args(["deb", "--version"]).output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "cargo-deb is missing: cargo install cargo-deb --locked (scripts/test-all.sh does it)"
    );
    run(Command::new("bash")
        .arg(root().join("scripts/build-deb.sh"))
        .arg("--output")
        .arg(dir)
        .current_dir(root()));
    let debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs[0].clone()
}

#[test]
fn package_contents_and_lintian() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build(dir.path());

    let info = run(Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(info.contains("Package: meridian"), "{info}");
    assert!(info.contains("Section: net"), "{info}");
    let depends = info
        .lines()
        .find(|l| l.trim_start().starts_with("Depends:"))
        .unwrap_or_else(|| panic!("no Depends:\n{info}"));
    assert!(depends.contains("libc6"), "{depends}");
    assert!(depends.contains("systemd"), "{depends}");
    let conffiles = run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .arg("conffiles"));
    for f in [
        "/etc/meridian/meridian.toml",
        "/etc/meridian/zones/example.test.zone",
    ] {
        assert!(
            conffiles.lines().any(|l| l.trim() == f),
            "{f}:\n{conffiles}"
        );
    }
    // The system user is created at configure time, and units are registered (not enabled).
    let postinst = run(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("postinst"));
    assert!(postinst.contains("systemd-sysusers"), "{postinst}");
    assert!(postinst.contains("meridian-director.service"), "{postinst}");

    let list = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let files: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    for want in [
        "./usr/bin/meridian",
        "./usr/lib/systemd/system/meridian.service",
        "./usr/lib/systemd/system/meridian-director.service",
        "./usr/lib/sysusers.d/meridian.conf",
        "./etc/meridian/meridian.toml",
        "./etc/meridian/zones/example.test.zone",
        "./usr/share/man/man1/meridian.1.gz",
        "./usr/share/man/man1/meridian-serve.1.gz",
        "./usr/share/bash-completion/completions/meridian",
        "./usr/share/zsh/vendor-completions/_meridian",
        "./usr/share/fish/vendor_completions.d/meridian.fish",
        "./usr/share/doc/meridian/copyright",
        "./usr/share/doc/meridian/changelog.Debian.gz",
    ] {
        assert!(files.contains(&want), "{want} missing:\n{list}");
    }
    // The hidden packaging subcommand gets no page.
    assert!(!list.contains("generate-assets"), "{list}");

    // The packaged binary accepts the packaged configuration and has the packaged units'
    // programs; the man page is a real one.
    let x = dir.path().join("x");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x));
    let bin = x.join("usr/bin/meridian");
    run(Command::new(&bin)
        .arg("check")
        .arg("--config")
        .arg(x.join("etc/meridian/meridian.toml")));
    let version = run(Command::new(&bin).arg("--version"));
    assert!(version.starts_with("meridian "), "{version}");
    let man = run(Command::new("sh").arg("-c").arg(format!(
        "gzip -dc {} | head -c 4000",
        x.join("usr/share/man/man1/meridian.1.gz").display()
    )));
    assert!(man.contains(".TH meridian 1"), "{man}");
    assert!(man.contains("serve"), "{man}");
    let bash =
        std::fs::read_to_string(x.join("usr/share/bash-completion/completions/meridian")).unwrap();
    assert!(bash.contains("complete -F _meridian"), "{bash}");

    // lintian: no error. Warnings are printed for the record.
    let out = Command::new("lintian")
        .args(["--tag-display-limit", "0", "--display-info"])
        .arg(&deb)
        .output()
        .expect("lintian (Debian package lintian)");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("lintian:\n{report}{}", String::from_utf8_lossy(&out.stderr));
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));
    // lintian ran and passed (a crash would also leave no E: line).
    assert!(out.status.success(), "lintian failed: {out:?}");
}

/// lintian wants a changelog whose first entry is the package's version: a version bump in
/// Cargo.toml needs an entry in dist/changelog.
#[test]
fn changelog_names_the_crate_version() {
    let text = std::fs::read_to_string(root().join("dist/changelog")).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let want = format!("meridian ({}-1) ", env!("CARGO_PKG_VERSION"));
    assert!(
        first.starts_with(&want),
        "dist/changelog starts with {first:?}, not {want:?}"
    );
}
