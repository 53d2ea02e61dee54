#!/usr/bin/env bash
# Tries the Debian packages `scripts/package.sh` built, as a center would:
#   - lintian's report, desktop-file-validate, systemd-analyze verify;
#   - an install into a clean Debian root (debootstrap) with only the
#     packages' declared dependencies, and `kalamu --version` there;
#   - an install on this machine: the MIME association for .kpack, the app
#     started from /usr/bin under Xvfb showing the library, the hub started
#     from its unit's command line (in a network namespace of its own);
#   - an upgrade over the previous version that keeps a learner's progress
#     and the hub's database, and a removal that keeps the hub's data until purged;
#   - the figures: .deb sizes, installed sizes, cold start and PSS.
# Run as root (it installs packages); CI runs it after the suite.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PKGS="$ROOT/target/packages"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
APP_DEB="$PKGS/kalamu_${VERSION}-1_amd64.deb"
HUB_DEB="$PKGS/kalamu-hub_${VERSION}-1_amd64.deb"
WORK=$(mktemp -d /tmp/kalamu-packages.XXXXXX)
NETNS="kalamu-pkg-$$"
FAILED=0

cleanup() {
  ip netns pids "$NETNS" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$NETNS" 2>/dev/null || true
  for m in proc sys dev; do umount -l "$WORK/root/$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { echo; echo "-- $* --"; }
check() {
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; FAILED=1; fi
}

for deb in "$APP_DEB" "$HUB_DEB"; do
  [ -f "$deb" ] || { echo "$deb is missing: run bash scripts/package.sh first" >&2; exit 1; }
done
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  lintian desktop-file-utils shared-mime-info debootstrap iproute2 curl >/dev/null

step "lintian"
lintian --tag-display-limit 0 "$APP_DEB" "$HUB_DEB" || true

step "desktop entry and unit"
check "desktop-file-validate" desktop-file-validate packaging/app/org.kalamu.app.desktop

step "a clean Debian root, with only the declared dependencies"
start=$(date +%s)
if debootstrap --variant=minbase bookworm "$WORK/root" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1; then
  cp "$APP_DEB" "$HUB_DEB" "$WORK/root/tmp/"
  cp /etc/resolv.conf "$WORK/root/etc/resolv.conf"
  for m in proc sys dev; do mount --bind "/$m" "$WORK/root/$m"; done
  in_root() { chroot "$WORK/root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
  in_root apt-get update -qq >/dev/null
  root_install() {
    in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$APP_DEB")" "/tmp/$(basename "$HUB_DEB")" \
      >"$WORK/root-install.log" 2>&1 || { tail -20 "$WORK/root-install.log"; return 1; }
    echo "$(grep -c '^Setting up' "$WORK/root-install.log") packages set up"
  }
  check "apt installs both packages into a clean root" root_install
  check "kalamu --version runs there" in_root /usr/bin/kalamu --version
  check "kalamu-app --version runs there (its libraries all resolve)" in_root /usr/bin/kalamu-app --version
  check "the hub's user was made" in_root getent passwd kalamu
  for m in proc sys dev; do umount -l "$WORK/root/$m"; done
else
  tail -5 "$WORK/debootstrap.log"
  check "debootstrap a clean root" false
fi
echo "clean root: $(( $(date +%s) - start )) s"

step "install on this machine"
# From a clean slate: a version left by an earlier run would make this a downgrade.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' kalamu kalamu-hub 2>/dev/null | awk '/ installed$/ {print $1}' || true)
if [ -n "$installed" ]; then as_root apt-get purge -y -qq $installed >/dev/null; fi
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$APP_DEB" "$HUB_DEB" >/dev/null
check "kalamu --version" /usr/bin/kalamu --version
check "systemd-analyze verify kalamu-hub.service" systemd-analyze verify /usr/lib/systemd/system/kalamu-hub.service
check ".kpack files are Kalamu packs" grep -q "application/x-kalamu-pack:\*\.kpack" /usr/share/mime/globs2
check ".kpack files open with the app" grep -q "application/x-kalamu-pack=.*org.kalamu.app.desktop" /usr/share/applications/mimeinfo.cache

step "the hub from its unit's command line"
unit=/usr/lib/systemd/system/kalamu-hub.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
env_line=$(sed -n 's/^Environment=//p' "$unit")
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
# The unit's own command, as its user, on a network with nothing but loopback.
ip netns exec "$NETNS" runuser -u kalamu -- env "$env_line" $exec_start >"$WORK/hub.out" 2>"$WORK/hub.log" &
for _ in $(seq 100); do grep -q "listening on" "$WORK/hub.out" 2>/dev/null && break; sleep 0.1; done
check "the hub serves TLS on 0.0.0.0:7878" \
  ip netns exec "$NETNS" curl -fsSk --max-time 5 -o /dev/null https://127.0.0.1:7878/v1/health
check "its log names its TLS key and no secret" grep -q "TLS key" "$WORK/hub.log"
cat "$WORK/hub.log"
check "its database is the service's" test -s /var/lib/kalamu/hub.db
ip netns pids "$NETNS" | xargs -r kill
sleep 0.5

step "the installed app shows the library"
check "library under Xvfb (e2e, /usr/bin/kalamu-app)" env KALAMU_APP_BIN=/usr/bin/kalamu-app \
  cargo nextest run --locked -p kalamu-e2e --no-fail-fast -E 'test(library_lists_the_installed_packs_by_title) | binary(open_file)'

step "an upgrade keeps progress, removal keeps the hub's data"
laptop="$WORK/laptop"
key="$WORK/publisher.key"
/usr/bin/kalamu pack keygen --out "$key" >"$key.pub"
/usr/bin/kalamu --data "$laptop" trust add "$(cat "$key.pub")" --name "Sample publisher" >/dev/null
/usr/bin/kalamu pack build course-packs/networks-intro --out "$WORK/networks.kpack" --key "$key" >/dev/null
/usr/bin/kalamu --data "$laptop" import "$WORK/networks.kpack" >/dev/null
learner=$(/usr/bin/kalamu --data "$laptop" learner add "Aissatou")
/usr/bin/kalamu --data "$laptop" progress record --learner "$learner" \
  --pack org.kalamu.samples.networks-intro --lesson what-is-a-network completed
kalamu-hub center add "Centre de Kindia" >/dev/null
before=$(/usr/bin/kalamu --data "$laptop" progress show --learner "$learner" --json)
for crate in kalamu-app kalamu-cli; do
  cargo deb --no-build --locked --quiet -p "$crate" -o "$WORK" --deb-version "${VERSION}-2"
done
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$WORK"/kalamu_*-2_amd64.deb "$WORK"/kalamu-hub_*-2_amd64.deb >/dev/null
check "the newer package is installed" test "$(dpkg-query -W -f='${Version}' kalamu)" = "${VERSION}-2"
after=$(/usr/bin/kalamu --data "$laptop" progress show --learner "$learner" --json)
check "the learner's progress is kept" test "$before" = "$after"
check "the installed pack is kept" grep -q "org.kalamu.samples.networks-intro" <(/usr/bin/kalamu --data "$laptop" packs)
check "the hub's centers are kept" grep -q "Centre de Kindia" <(kalamu-hub center list)
as_root apt-get remove -y -qq kalamu-hub >/dev/null
check "removing the hub keeps its database" test -s /var/lib/kalamu/hub.db
as_root apt-get purge -y -qq kalamu-hub >/dev/null
check "purging deletes it" test ! -e /var/lib/kalamu

step "figures"
size() { du -k --apparent-size "$1" | cut -f1; }
echo "kalamu .deb:     $(( $(size "$APP_DEB") / 1024 )) MiB ($(size "$APP_DEB") KiB; goal < 15 MB)"
echo "kalamu-hub .deb: $(( $(size "$HUB_DEB") / 1024 )) MiB ($(size "$HUB_DEB") KiB)"
echo "kalamu installed: $(dpkg-query -W -f='${Installed-Size}' kalamu) KiB"
env KALAMU_APP_BIN=/usr/bin/kalamu-app cargo run --locked --quiet -p kalamu-e2e --bin app-bench || true
echo "(goals: cold start < 0.7 s, PSS at the library <= 220 MiB)"

if [ "$FAILED" -ne 0 ]; then
  echo "some package checks failed" >&2
  exit 1
fi
echo "all package checks passed"
