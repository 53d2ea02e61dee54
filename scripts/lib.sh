# Shared by scripts/run-app.sh and scripts/test.sh: installs what a fresh
# Debian/Ubuntu machine lacks and builds the UI. Sourced, not run.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"

# Debian packages: Tauri's build libraries, the WebKit WebDriver, a virtual
# display, GStreamer plugins for lesson video and audio, zip tools for packs,
# and faketime for the sync tests of a laptop whose clock is years off.
DEB_PACKAGES=(
  build-essential pkg-config file libssl-dev libxdo-dev librsvg2-dev
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev
  webkit2gtk-driver xvfb xauth
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  zip unzip
  faketime
)
# Only the suite needs these: Chromium and its WebDriver, for the tests of
# the hub's staff pages in a real browser; PostgreSQL's server, which the
# tests of a country's hub start in temporary directories; nginx, the load
# balancer in front of several hubs.
TEST_DEB_PACKAGES=(chromium chromium-driver postgresql nginx-light)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_debian_packages() {
  local missing=()
  for pkg in "${DEB_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    # Servers the packages bring (PostgreSQL's cluster, nginx) are not
    # started: the tests start their own, on loopback, in temporary directories.
    local policy=/usr/sbin/policy-rc.d made=
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod +x "$policy" && made=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$made" ]; then as_root rm -f "$policy"; fi
  fi
}

ensure_tauri_driver() {
  command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --quiet
}

build_ui() {
  (cd "$ROOT/ui" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
}

# Builds the sample packs from course-packs/ (signed with a demo publisher key
# kept beside the data) and imports those not yet installed into $1.
import_sample_packs() {
  local data=$1 kalamu="$ROOT/target/debug/kalamu" out="$ROOT/target/sample-packs"
  local key="$data/demo-publisher.key"
  mkdir -p "$out" "$data"
  if [ ! -f "$key" ]; then
    "$kalamu" pack keygen --out "$key" > "$key.pub"
  fi
  "$kalamu" --data "$data" trust add "$(cat "$key.pub")" --name "Kalamu sample content" >/dev/null
  local installed; installed=$("$kalamu" --data "$data" packs 2>/dev/null)
  for src in "$ROOT"/course-packs/*/; do
    local name; name=$(basename "$src")
    "$kalamu" pack build "$src" --out "$out/$name.kpack" --key "$key" >/dev/null
    local id; id=$(sed -n 's/^id *= *"\(.*\)"/\1/p' "$src/pack.toml")
    if ! grep -q "^$id	" <<<"$installed"; then
      "$kalamu" --data "$data" import "$out/$name.kpack"
    fi
  done
}
