#!/usr/bin/env bash
# Tries the README's two commands on a fresh Debian 12 (bookworm) made with debootstrap, as a
# new user would run them: no deno, no packages beyond debootstrap's base system.
#
#   bash scripts/fresh-machine-trial.sh DIR [MIRROR]      (root; DIR must not exist yet)
#
# Steps: debootstrap bookworm DIR; bind-mount DIR onto itself (so that `/` inside is a mount
# point: `ip netns exec` runs `mount --make-rslave /`, which fails on a plain chroot), then
# /proc /sys /dev /dev/pts; copy /etc/resolv.conf and the host's locally added CA certificates
# (/usr/local/share/ca-certificates: a machine behind a TLS-inspecting egress has them in its
# system store); `git clone` this repository (committed HEAD only) to DIR/root/kink/main and copy
# ../shared beside it; run `bash scripts/run-main.sh` then `bash scripts/run-tests.sh` inside
# with an empty environment; print both exit codes and durations; unmount everything.
# Logs: DIR/root/main.log, DIR/root/tests.log.
set -uo pipefail
dir="${1:?usage: $0 DIR [MIRROR]}"
# The mirror: the argument, else the one this machine's apt already uses.
host_mirror() {
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
  } | grep -v security | head -n 1
}
mirror="${2:-$(host_mirror)}"
[ -n "$mirror" ] || { echo "no apt mirror configured here; pass one as MIRROR" >&2; exit 1; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -e "$dir" ] && { echo "$dir exists; give a new directory" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y --no-install-recommends debootstrap

say() { echo "[trial] $*"; }
mounts=()
cleanup() {
  local i
  # `ip netns add` bind-mounts run/netns inside: it goes first, the root self-bind last.
  mountpoint -q "$dir/run/netns" && umount "$dir/run/netns"
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[$i]}" 2>/dev/null; done
  mountpoint -q "$dir" && echo "[trial] warning: $dir is still mounted" >&2
}
trap cleanup EXIT

say "debootstrap bookworm $dir"
t0=$(date +%s)
debootstrap bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 || {
  tail -5 "$dir.debootstrap.log"; exit 1
}
say "debootstrap took $(($(date +%s) - t0)) s"
mount --bind "$dir" "$dir" && mounts+=("$dir")
for d in proc sys dev dev/pts; do mount --bind "/$d" "$dir/$d" && mounts+=("$dir/$d"); done
cp /etc/resolv.conf "$dir/etc/resolv.conf"
mkdir -p "$dir/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/" 2>/dev/null || true
mkdir -p "$dir/root/kink"
git clone -q "$repo" "$dir/root/kink/main"
[ -d "$repo/../shared" ] && cp -a "$repo/../shared" "$dir/root/kink/shared"
say "testing commit $(git -C "$dir/root/kink/main" log --oneline -1)"

inside() { chroot "$dir" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root bash -c "cd /root/kink/main && $1"; }
t0=$(date +%s)
inside "bash scripts/run-main.sh" >"$dir/root/main.log" 2>&1
rc1=$? d1=$(($(date +%s) - t0))
say "command 1: bash scripts/run-main.sh → exit $rc1 in $d1 s; last lines:"
tail -3 "$dir/root/main.log" | sed 's/^/    /'
t0=$(date +%s)
inside "bash scripts/run-tests.sh" >"$dir/root/tests.log" 2>&1
rc2=$? d2=$(($(date +%s) - t0))
say "command 2: bash scripts/run-tests.sh → exit $rc2 in $d2 s; summary:"
sed -n '/^==== summary/,$p' "$dir/root/tests.log" | sed 's/^/    /'
[ "$rc1" = 0 ] && [ "$rc2" = 0 ]
