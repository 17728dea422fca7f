//! IPVS in a real kernel: each test boots Debian's stock kernel under QEMU (tests/vm/), shares
//! the `meridian` binary and a guest scenario over virtio-9p, and asserts the scenario's exit
//! status. `ipvsadm` inside the VM is the oracle. Missing qemu, kernel, busybox or ipvsadm is
//! a failure, never a skip.
//!
//! Run: `cargo test --release --test ipvs_vm [NAME] -- --nocapture` (the binary of the test's
//! profile is used; `MERIDIAN_BIN` overrides it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cache() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("ipvs-vm")
}

/// Build (or reuse) the VM once per test binary.
fn vm_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new(root().join("tests/vm/build.sh"))
            .arg(cache())
            .output()
            .expect("cannot run tests/vm/build.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "building the IPVS VM failed (qemu-system-x86, busybox-static, ipvsadm, cpio, \
             xz-utils and apt access to linux-image-amd64 are required):\n{stderr}"
        );
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        PathBuf::from(dir)
    })
    .clone()
}

/// Boot the VM with a share holding the binary, the guest scripts and `files`; run
/// `lib.sh` + `<scenario>.sh` there. Returns (exit status, output).
fn boot(scenario: &str, files: &[(&str, String)]) -> (i32, String) {
    static ONE_VM: Mutex<()> = Mutex::new(());
    let _one = ONE_VM.lock().unwrap_or_else(|p| p.into_inner());
    let vm = vm_dir();
    let share = cache().join(format!("share-{scenario}"));
    if share.exists() {
        std::fs::remove_dir_all(&share).unwrap();
    }
    std::fs::create_dir_all(share.join("lib")).unwrap();
    let bin = std::env::var_os("MERIDIAN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_meridian")));
    std::fs::copy(&bin, share.join("meridian")).unwrap();
    // glibc libraries the binary links (the loader itself is in the initramfs)
    let ldd = Command::new("ldd").arg(&bin).output().unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let name = Path::new(lib).file_name().unwrap();
        std::fs::copy(lib, share.join("lib").join(name)).unwrap();
    }
    for f in std::fs::read_dir(root().join("tests/vm/guest")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, share.join(f.file_name().unwrap())).unwrap();
    }
    for (name, text) in files {
        std::fs::write(share.join(name), text).unwrap();
    }
    std::fs::write(
        share.join("run.sh"),
        format!(
            "export LD_LIBRARY_PATH=/host/lib RUST_BACKTRACE=1\nset -u\n. ./lib.sh\n. ./{scenario}.sh\n"
        ),
    )
    .unwrap();
    let out = Command::new(root().join("tests/vm/boot.sh"))
        .arg(&vm)
        .arg(&share)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

const SCHEDULERS: [&str; 13] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
];
const FORWARDS: [(&str, &str); 3] = [("dr", "Route"), ("nat", "Masq"), ("tun", "Tunnel")];

/// A config with one service per scheduler (forwarding methods rotating, also per real
/// server) plus IPv6, UDP, SCTP, fwmark, persistence and flag services; and the table
/// `ipvsadm -Ln` must then show, written in ipvsadm's own format.
fn tables_fixture() -> (String, String, usize) {
    let mut toml = String::from("[lvs]\nresync = \"1s\"\n");
    let mut want = String::new();
    let mut ops = 0;
    for (i, s) in SCHEDULERS.iter().enumerate() {
        let n = i + 1;
        let (fwd, _) = FORWARDS[i % 3];
        let vip = format!("10.20.0.{n}:80");
        write!(
            toml,
            "\n[[lvs.service]]\nvip = \"{vip}\"\nscheduler = \"{s}\"\nforward = \"{fwd}\"\n"
        )
        .unwrap();
        let svc_line = format!("TCP {vip} {s}");
        writeln!(want, "{svc_line}").unwrap();
        ops += 1;
        for (j, weight) in [(1, n), (2, 2 * n + 3)] {
            let (rfwd, rname) = FORWARDS[(i + j - 1) % 3];
            let addr = format!("10.20.{n}.{j}:80");
            write!(
                toml,
                "[[lvs.service.real]]\naddr = \"{addr}\"\nweight = {weight}\nforward = \"{rfwd}\"\n"
            )
            .unwrap();
            writeln!(want, "{svc_line} | -> {addr} {rname} {weight} 0 0").unwrap();
            ops += 1;
        }
    }
    toml.push_str(
        r#"
[[lvs.service]]
vip = "[2001:db8::20]:53"
protocol = "udp"
scheduler = "sh"
forward = "nat"
persistence = "60s"
netmask = "/64"
flags = ["sh-fallback", "sh-port", "one-packet"]
[[lvs.service.real]]
addr = "[2001:db8::21]:53"
weight = 3

[[lvs.service]]
vip = "[2001:db8::30]:443"
scheduler = "wrr"
forward = "dr"
[[lvs.service.real]]
addr = "[2001:db8::31]:443"
weight = 99
[[lvs.service.real]]
addr = "[2001:db8::32]:443"
weight = 0

[[lvs.service]]
vip = "10.30.0.1:5000"
protocol = "sctp"
scheduler = "wlc"
forward = "nat"
[[lvs.service.real]]
addr = "10.30.0.2:5000"
weight = 4
u_threshold = 100
l_threshold = 10

[[lvs.service]]
fwmark = 7
scheduler = "mh"
forward = "dr"
persistence = "300s"
netmask = "255.255.255.0"
flags = ["mh-fallback", "mh-port"]
[[lvs.service.real]]
addr = "10.31.0.1:0"
weight = 2

[[lvs.service]]
fwmark = 8
family = "ipv6"
scheduler = "lc"
forward = "tun"
[[lvs.service.real]]
addr = "[2001:db8::41]:0"
weight = 6
"#,
    );
    want.push_str(
        "UDP [2001:db8::20]:53 sh (sh-fallback,sh-port) persistent 60 mask 64 ops
UDP [2001:db8::20]:53 sh (sh-fallback,sh-port) persistent 60 mask 64 ops | -> [2001:db8::21]:53 Masq 3 0 0
TCP [2001:db8::30]:443 wrr
TCP [2001:db8::30]:443 wrr | -> [2001:db8::31]:443 Route 99 0 0
TCP [2001:db8::30]:443 wrr | -> [2001:db8::32]:443 Route 0 0 0
SCTP 10.30.0.1:5000 wlc
SCTP 10.30.0.1:5000 wlc | -> 10.30.0.2:5000 Masq 4 0 0
FWM 7 mh (mh-fallback,mh-port) persistent 300 mask 255.255.255.0
FWM 7 mh (mh-fallback,mh-port) persistent 300 mask 255.255.255.0 | -> 10.31.0.1:0 Route 2 0 0
FWM 8 IPv6 lc
FWM 8 IPv6 lc | -> [2001:db8::41]:0 Tunnel 6 0 0
",
    );
    ops += 2 + 3 + 2 + 2 + 2;
    (toml, want, ops)
}

fn assert_guest(scenario: &str, files: &[(&str, String)]) {
    let (rc, out) = boot(scenario, files);
    println!("{out}");
    assert_eq!(rc, 0, "guest scenario {scenario} failed (rc {rc}):\n{out}");
}

#[test]
fn tables_for_every_scheduler_method_family_and_fwmark() {
    let (toml, want, ops) = tables_fixture();
    let twos = "[lvs]\n[[lvs.service]]\nvip = \"10.40.0.1:80\"\nscheduler = \"twos\"\nforward = \"dr\"\n[[lvs.service.real]]\naddr = \"10.40.0.2:80\"\n";
    assert_guest(
        "tables",
        &[
            ("tables.toml", toml),
            ("tables.expected", want),
            ("expected-ops-count", ops.to_string()),
            ("twos.toml", twos.to_string()),
        ],
    );
}

#[test]
fn live_nat_connection_edits_in_place_restart_and_drift() {
    assert_guest("e2e", &[]);
}

/// `meridian serve` with `[lvs]`: the prober drives weights (weight0 and remove), the sorry
/// server and the VIP's quorum, and the quorum moves DNS answers between sites.
#[test]
fn serve_health_drives_weights_sorry_server_and_dns() {
    let zone = std::fs::read_to_string(root().join("zones/example.test.zone")).unwrap();
    assert_guest("serve", &[("example.test.zone", zone)]);
}

/// Drain as a state: a live connection survives an operator's drain, the real server is
/// deleted when the connection ends; `on_failure = "drain"` with a deadline deletes it at the
/// deadline; `drain = true` in the file keeps it out.
#[test]
fn drain_keeps_connections_then_deletes_at_zero_or_deadline() {
    let zone = std::fs::read_to_string(root().join("zones/example.test.zone")).unwrap();
    assert_guest("drain", &[("example.test.zone", zone)]);
}

/// A client reaches a DR and a TUN service through the director to real servers prepared
/// only by `meridian realserver`; replies go straight back; `--check` and `down`.
#[test]
fn realserver_prepares_dr_and_tun_real_servers() {
    assert_guest("realserver", &[]);
}

/// `[lvs] sync`: two directors' sync daemons; a connection through the first is in the
/// second's table and keeps working when the VIP moves there.
#[test]
fn sync_daemons_carry_connections_to_the_other_director() {
    assert_guest("sync", &[]);
}

/// Capacity-aware spill: a VIP at `spill_at` of its capacity (held connections through it)
/// leaves the DNS answers of the director and of a DNS node told over gossip; it is answered
/// over capacity when the other site is down, and comes back below `spill_resume`.
#[test]
fn a_full_vip_spills_dns_to_the_other_site_and_returns() {
    let zone = std::fs::read_to_string(root().join("zones/example.test.zone")).unwrap();
    assert_guest("spill", &[("example.test.zone", zone)]);
}

/// Director faults: `lvs run` killed with SIGKILL in the middle of a pass of about 22 000
/// operations; the restarted director adds only what is missing (no delete, no edit) and a
/// live NAT connection through the table survives; an operation the kernel refuses is
/// reported with the operation while the others of the pass apply.
#[test]
fn kill_mid_reconcile_converges_and_refused_operations_do_not_stop_the_rest() {
    const SERVICES: usize = 2000;
    const REALS: usize = 10;
    let echo = "[[lvs.service]]\nvip = \"10.0.0.100:8080\"\nscheduler = \"rr\"\nforward = \"nat\"\n[[lvs.service.real]]\naddr = \"10.1.1.2:8080\"\n";
    let small = format!("[lvs]\nresync = \"60s\"\n{echo}");
    let mut big = small.clone();
    for i in 0..SERVICES {
        let (a, b) = (i / 250, i % 250 + 1);
        big.push_str(&format!(
            "[[lvs.service]]\nvip = \"10.50.{a}.{b}:80\"\nscheduler = \"wrr\"\nforward = \"dr\"\n"
        ));
        for r in 0..REALS {
            big.push_str(&format!(
                "[[lvs.service.real]]\naddr = \"10.{}.{a}.{b}:80\"\nweight = {}\n",
                52 + r,
                r + 1
            ));
        }
    }
    let refused = format!(
        "{small}[[lvs.service]]\nvip = \"10.40.0.1:80\"\nscheduler = \"twos\"\nforward = \"dr\"\n[[lvs.service.real]]\naddr = \"10.40.0.2:80\"\n[[lvs.service]]\nvip = \"10.60.0.1:80\"\nscheduler = \"rr\"\nforward = \"dr\"\n[[lvs.service.real]]\naddr = \"10.61.0.1:80\"\n"
    );
    assert_guest(
        "faults",
        &[
            ("small.toml", small),
            ("big.toml", big),
            ("refused.toml", refused),
            ("big-services", SERVICES.to_string()),
            ("big-reals", (SERVICES * REALS).to_string()),
        ],
    );
}

/// `[anycast]` on a director: a prefix conditioned on a VIP's quorum is withdrawn when two of
/// three real servers die (the director's own checks judge the quorum) and announced again
/// when they return; `meridian status` is the oracle, the ExaBGP API lines are recorded.
#[test]
fn anycast_prefix_follows_the_vip_quorum() {
    let zone = std::fs::read_to_string(root().join("zones/example.test.zone")).unwrap();
    assert_guest("anycast", &[("example.test.zone", zone)]);
}
