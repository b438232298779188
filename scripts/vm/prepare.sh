#!/usr/bin/env bash
# Prepare the VM tier's kernel and initramfs (idempotent).
#
# Resolves the kernel package that Debian's `linux-image-amd64` currently depends on, downloads
# it with `apt-get download` and unpacks it with `dpkg-deb -x` (it is never installed), generates
# modules.dep/modules.alias with busybox depmod, and builds a small busybox initramfs holding the
# modules needed to reach the host root over virtio-9p plus scripts/vm/init.
#
# Everything lives in a cache folder outside the repository:
#   ${KINK_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kink-vm}/<abi>_<package version>/
#     root/boot/vmlinuz-<abi>, root/lib/modules/<abi>/   unpacked package + depmod output
#     vmlinux                                             uncompressed kernel (PVH boot)
#     initramfs-<hash>.cpio                               hash covers init script + module list
#
# Prints one line on stdout: KEY=VALUE pairs (KERNEL, INITRD, MODULES, KVER, DIR), for
# tests/harness/vm.ts. Progress goes to stderr. If the package cannot be resolved or downloaded
# (no apt mirror), the newest kernel already in the cache is used.
set -euo pipefail
# (Pipelines below read their whole input: an early exit would SIGPIPE the writer under pipefail.)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${KINK_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kink-vm}"
mkdir -p "$cache_root"

log() { echo "vm-prepare: $*" >&2; }

for tool in busybox dpkg-deb apt-get apt-cache qemu-system-x86_64; do
  command -v "$tool" >/dev/null || {
    log "missing $tool (apt-get install qemu-system-x86 busybox-static)"
    exit 1
  }
done

# Serialise concurrent preparations (two test runs starting at once).
exec 9>"$cache_root/.lock"
flock -w 600 9 || true

resolve_package() {
  # linux-image-amd64 depends on exactly one linux-image-<abi>-amd64 package.
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ && !found { print $2; found = 1 }'
}

pkg="$(resolve_package || true)"
if [[ -z "$pkg" ]]; then
  log "apt-cache does not know linux-image-amd64; running apt-get update"
  apt-get update -qq >&2 || true
  pkg="$(resolve_package || true)"
fi

dir=""
if [[ -n "$pkg" ]]; then
  ver="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ && !found { print $2; found = 1 }')"
  abi="${pkg#linux-image-}"
  if [[ -n "$ver" && "$ver" != "(none)" ]]; then
    dir="$cache_root/${abi}_${ver}"
    if [[ ! -f "$dir/.unpacked" ]]; then
      log "fetching $pkg $ver (apt-get download, not installed)"
      rm -rf "$dir.tmp"
      mkdir -p "$dir.tmp"
      if (cd "$dir.tmp" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$pkg=$ver" >&2 2>&1); then
        log "unpacking with dpkg-deb -x"
        dpkg-deb -x "$dir.tmp"/*.deb "$dir.tmp/root"
        rm -f "$dir.tmp"/*.deb
        log "generating modules.dep and modules.alias (busybox depmod)"
        busybox depmod -b "$dir.tmp/root" "$abi"
        echo "$pkg $ver" >"$dir.tmp/package"
        touch "$dir.tmp/.unpacked"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
      else
        log "download of $pkg $ver failed"
        rm -rf "$dir.tmp"
        dir=""
      fi
    fi
  fi
fi

if [[ -z "$dir" ]]; then
  dir="$(ls -d "$cache_root"/*/.unpacked 2>/dev/null | sort -V | tail -n 1 || true)"
  dir="${dir%/.unpacked}"
  if [[ -z "$dir" ]]; then
    log "no kernel package could be resolved or downloaded, and none is cached in $cache_root"
    exit 1
  fi
  log "using cached kernel in $dir"
fi

# Kernels Debian has replaced: drop them a day after they were last prepared.
find "$cache_root" -mindepth 1 -maxdepth 1 -type d ! -path "$dir" -mtime +1 -exec rm -rf {} + ||
  true
touch "$dir"

kver="$(ls "$dir/root/lib/modules" | sed -n 1p)"
kernel="$dir/root/boot/vmlinuz-$kver"
moddir="$dir/root/lib/modules/$kver"
[[ -f "$kernel" && -f "$moddir/modules.dep" ]] || {
  log "incomplete cache in $dir; delete it and retry"
  exit 1
}

# Boot an uncompressed vmlinux through PVH when the kernel supports it: decompressing the
# bzImage under TCG costs more than half of the boot time. Falls back to the bzImage.
vmlinux="$dir/vmlinux"
if [[ ! -f "$vmlinux" ]] && grep -q '^CONFIG_PVH=y' "$dir/root/boot/config-$kver" 2>/dev/null; then
  extract() { # magic (grep -P) and decompressor
    local off
    off="$(LC_ALL=C grep -obUaP "$1" "$kernel" | sed -n 1p | cut -d: -f1)"
    [[ -n "$off" ]] || return 1
    tail -c +$((off + 1)) "$kernel" | $2 2>/dev/null >"$vmlinux.tmp"
    [[ "$(head -c 4 "$vmlinux.tmp" | od -An -tx1 | tr -d ' ')" == 7f454c46 ]]
  }
  if extract '\xfd7zXZ\x00' "xz -dc" || extract '\x28\xb5\x2f\xfd' "zstd -dcq" ||
    extract '\x1f\x8b\x08' "gzip -dc"; then
    log "extracted $(basename "$vmlinux") for PVH boot"
    mv "$vmlinux.tmp" "$vmlinux"
  else
    rm -f "$vmlinux.tmp"
  fi
fi
[[ -f "$vmlinux" ]] && kernel="$vmlinux"

# Modules the initramfs loads by insmod before the host root is reachable, in dependency order.
# Everything else is loaded from the unpacked tree over 9p by modprobe.
early_modules=(
  kernel/drivers/virtio/virtio_ring.ko
  kernel/drivers/virtio/virtio.ko
  kernel/drivers/virtio/virtio_mmio.ko
  kernel/drivers/char/virtio_console.ko
  kernel/fs/netfs/netfs.ko
  kernel/fs/fscache/fscache.ko
  kernel/net/9p/9pnet.ko
  kernel/net/9p/9pnet_virtio.ko
  kernel/fs/9p/9p.ko
  kernel/fs/overlayfs/overlay.ko
)

hash="$(
  {
    cat "$here/init"
    printf '%s\n' "${early_modules[@]}" "$kver"
    busybox 2>&1 | sed -n 1p
  } | sha256sum | cut -c1-16
)"
initrd="$dir/initramfs-$hash.cpio"
if [[ ! -f "$initrd" ]]; then
  log "building initramfs $initrd"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work"/{bin,sbin,dev,proc,sys,lower,rw,newroot,share,early} "$work/lib/modules/$kver"
  cp "$(command -v busybox)" "$work/bin/busybox"
  ln -s busybox "$work/bin/sh"
  ln -s ../bin/busybox "$work/sbin/modprobe"
  install -m 0755 "$here/init" "$work/init"
  : >"$work/early/list"
  for m in "${early_modules[@]}"; do
    cp "$moddir/$m" "$work/early/"
    basename "$m" >>"$work/early/list"
  done
  echo "$kver" >"$work/kver"
  # Uncompressed: unpacking is faster than decompressing under TCG.
  (cd "$work" && find . | busybox cpio -o -H newc 2>/dev/null) >"$initrd.tmp"
  # Older builds stay: a concurrent run may be about to boot one.
  mv "$initrd.tmp" "$initrd"
fi

echo "KERNEL=$kernel INITRD=$initrd MODULES=$moddir KVER=$kver DIR=$dir"
