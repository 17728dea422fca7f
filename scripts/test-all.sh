#!/usr/bin/env bash
# Installs everything Meridian's tests need (Debian packages, a Python venv for test data),
# then runs every test. `.ci/run` calls exactly this script; README.md names it.
# A missing tool is installed here or the test that needs it fails loudly: nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(nsd knot-dnsutils dnsutils dnsperf gdnsd qemu-system-x86 busybox-static ipvsadm bird2 exabgp
      iproute2 cpio xz-utils file kmod python3-venv ca-certificates chromium chromium-driver prometheus
      systemd man-db procps bsdutils lintian strace)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The IPVS VM test downloads Debian's kernel package: the package lists must know it.
if [ ${#missing[@]} -gt 0 ] || ! apt-cache policy linux-image-amd64 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  as_root apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-all: installing ${missing[*]}"
  # qemu-system-x86 from bookworm may replace a newer qemu-utils: allow that removal.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian nsd package may start a system nsd on port 53; the tests run their own on
# loopback high ports, so the system one does not matter.

# tests/ops/package.rs builds the Debian package with cargo-deb (a few minutes to install once).
if ! cargo deb --version >/dev/null 2>&1; then
  echo "test-all: installing cargo-deb"
  cargo install cargo-deb@3.8.0 --locked   # builds with rustc 1.95
fi

cargo build --release --locked
# The API docs build without a warning (a broken or private link fails here).
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -q
MERIDIAN_BIN="$PWD/target/release/meridian" cargo test --locked --all-targets -- --test-threads=2
