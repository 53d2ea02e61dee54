#!/usr/bin/env bash
# Builds Kalamu's Debian packages, offline once the dependencies are
# fetched, into target/packages/:
#   kalamu_VERSION_amd64.deb      the app and the `kalamu` command, for laptops
#   kalamu-hub_VERSION_amd64.deb  the hub as a systemd service
# KALAMU_DEB_VERSION overrides the packages' version (the upgrade test uses it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_debian_packages dpkg-dev
command -v cargo-deb >/dev/null || cargo install cargo-deb --version 3.8.0 --locked --quiet
build_ui
cargo build --release --locked -p kalamu-app -p kalamu-cli
python3 scripts/licenses.py > target/release/third-party-licenses.txt
gzip -9n < packaging/changelog > target/release/changelog.Debian.gz

out=target/packages
mkdir -p "$out"
version=()
if [ -n "${KALAMU_DEB_VERSION:-}" ]; then version=(--deb-version "$KALAMU_DEB_VERSION"); fi
for crate in kalamu-app kalamu-cli; do
  cargo deb --no-build --locked --quiet -p "$crate" -o "$out" "${version[@]}"
done
ls -l "$out"/*.deb
