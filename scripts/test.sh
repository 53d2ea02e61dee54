#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then checks
# formatting, lints, type-checks the UI, and runs unit, integration and
# end-to-end tests (the real app in a real WebKit webview under Xvfb).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

declare -a STAGES=()
SUITE_START=$(date +%s)

report() {
  echo
  echo "== stage times =="
  for line in "${STAGES[@]}"; do echo "  $line"; done
  echo "  total: $(( $(date +%s) - SUITE_START ))s"
}
# One throw-away PostgreSQL server for the tests of a country's hub: each
# test makes a database of its own in it (without it, each test would start
# a server of its own). Loopback only, no durability: tests only.
PG_DIR=
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start_postgres() {
  local bin port
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_DIR=$(mktemp -d)
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_DIR"; fi
  as_postgres "$bin/initdb" -A trust -U postgres --no-sync -E UTF8 --locale=C -D "$PG_DIR/data" >/dev/null
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_postgres "$bin/pg_ctl" start -w -D "$PG_DIR/data" -l "$PG_DIR/log" -o \
    "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" >/dev/null
  export KALAMU_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port"
  echo "PostgreSQL for the tests: $KALAMU_TEST_POSTGRES"
}
stop_postgres() {
  if [ -n "$PG_DIR" ]; then
    as_postgres "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" stop -m immediate -D "$PG_DIR/data" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
trap 'stop_postgres; report' EXIT

stage() {
  local name=$1; shift
  echo
  echo "== $name =="
  local start; start=$(date +%s)
  if "$@"; then
    STAGES+=("$(printf '%-10s %5ss  ok' "$name" $(( $(date +%s) - start )))")
  else
    local rc=$?
    STAGES+=("$(printf '%-10s %5ss  FAILED (exit %s)' "$name" $(( $(date +%s) - start )) "$rc")")
    exit "$rc"
  fi
}

setup() {
  ensure_debian_packages "${TEST_DEB_PACKAGES[@]}"
  ensure_tauri_driver
  command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked --quiet
  rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
}

ui() {
  build_ui
  (cd ui && npm run --silent check)
}

# The window's TypeScript types are generated from the Rust ones (ts-rs);
# the committed ones must be what the Rust types say today.
bindings() {
  local out; out=$(mktemp -d)
  TS_RS_EXPORT_DIR="$out" cargo test --locked --quiet -p kalamu-core -p kalamu-client -p kalamu-app \
    --features kalamu-core/ts,kalamu-client/ts --lib --bins export_bindings >/dev/null
  if ! diff -r "$out" ui/src/lib/bindings; then
    echo "ui/src/lib/bindings is stale: run \`cargo test -p kalamu-core -p kalamu-client -p kalamu-app --features kalamu-core/ts,kalamu-client/ts export_bindings\` and commit it" >&2
    return 1
  fi
}

stage setup    setup
stage fmt      cargo fmt --all -- --check
stage ui       ui
stage clippy   cargo clippy --workspace --all-targets --locked -- -D warnings
stage build    cargo build --workspace --locked
start_postgres
stage tests    cargo nextest run --workspace --locked --no-fail-fast
stage bindings bindings
