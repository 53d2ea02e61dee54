# Shared by scripts/run-app.sh and scripts/test.sh: installs what a fresh
# Debian/Ubuntu machine lacks and builds the UI. Sourced, not run.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"

# Debian packages: Tauri's build libraries, the WebKit WebDriver, a virtual
# display, GStreamer plugins for lesson video and audio, zip tools for packs.
DEB_PACKAGES=(
  build-essential pkg-config file libssl-dev libxdo-dev librsvg2-dev
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev
  webkit2gtk-driver xvfb xauth
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  zip unzip
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_debian_packages() {
  local missing=()
  for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_tauri_driver() {
  command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --quiet
}

build_ui() {
  (cd "$ROOT/ui" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
}
