#!/usr/bin/env bash
# Installs what is missing, builds Kalamu, imports the sample packs into a
# demo data dir (.demo-data) and starts the app on it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_debian_packages
build_ui
cargo build --quiet -p kalamu-cli -p kalamu-app

DATA="${KALAMU_DATA:-$ROOT/.demo-data}"
mkdir -p "$DATA"
echo "Data directory: $DATA"
import_sample_packs "$DATA"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found; starting the app under a virtual display (xvfb-run)."
  exec xvfb-run -a -s "-screen 0 1366x768x24" "$ROOT/target/debug/kalamu-app" --data "$DATA"
fi
exec "$ROOT/target/debug/kalamu-app" --data "$DATA"
