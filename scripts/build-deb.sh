#!/usr/bin/env bash
# Builds the Debian package: the release binary, its man pages and shell completions
# (generated from the command-line definition by `meridian generate-assets`), then
# `cargo deb` with the metadata in Cargo.toml. Prints the path of the .deb.
# Needs cargo-deb (`cargo install cargo-deb --locked`; scripts/test-all.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb: cargo-deb is missing; run: cargo install cargo-deb --locked" >&2
  exit 1
fi
cargo build --release --locked
rm -rf target/assets
target/release/meridian generate-assets target/assets >&2
# --no-build: the binary above is the one packaged; --fast: quicker compression.
cargo deb --no-build --locked --fast "$@"
