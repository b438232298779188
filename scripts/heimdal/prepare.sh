#!/usr/bin/env bash
# Prepare a runnable Heimdal KDC tree for the tests (idempotent; never installs anything).
#
# Debian's heimdal-kdc conflicts with MIT's krb5-kdc/krb5-admin-server (which the tests need), so
# Heimdal is fetched with `apt-get download` (heimdal-kdc, heimdal-clients and their library
# packages) and unpacked with `dpkg-deb -x` into one folder; its programs run from there with
# LD_LIBRARY_PATH set to the folder's usr/lib/x86_64-linux-gnu (tests/harness/heimdal_realm.ts).
#
# Cache: ${KINK_HEIMDAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kink-heimdal}/<package version>/root
# A folder is used only once `.unpacked` exists in it (a download cut short is redone).
# Prints one line on stdout: ROOT=<unpacked tree> VERSION=<heimdal-kdc version>. Progress goes to
# stderr. Without a reachable apt mirror the newest cached tree is used.
set -euo pipefail

cache_root="${KINK_HEIMDAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kink-heimdal}"
mkdir -p "$cache_root"
log() { echo "heimdal-prepare: $*" >&2; }

for tool in dpkg-deb apt-get apt-cache flock; do
  command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }
done

# The KDC, the clients (kinit.heimdal, ktutil.heimdal, kadmin.heimdal) and every library they
# load (ldd of usr/lib/heimdal-servers/kdc and usr/bin/kadmin.heimdal in the unpacked tree).
packages=(heimdal-kdc heimdal-clients libkrb5-26-heimdal libasn1-8-heimdal libhdb9-heimdal
  libkdc2-heimdal libhcrypto5-heimdal libheimbase1-heimdal libroken19-heimdal libwind0-heimdal
  libhx509-5-heimdal libkadm5srv8-heimdal libkadm5clnt7-heimdal libgssapi3-heimdal
  libheimntlm0-heimdal libsl0-heimdal libkafs0-heimdal libotp0-heimdal)

exec 9>"$cache_root/.lock"
flock -w 600 9 || true

candidate() { apt-cache policy heimdal-kdc 2>/dev/null | awk '/Candidate:/ && !f { print $2; f = 1 }'; }
ver="$(candidate || true)"
if [[ -z "$ver" || "$ver" == "(none)" ]]; then
  log "apt-cache does not know heimdal-kdc; running apt-get update"
  apt-get update -qq >&2 || true
  ver="$(candidate || true)"
fi

dir=""
if [[ -n "$ver" && "$ver" != "(none)" ]]; then
  dir="$cache_root/$ver"
  if [[ ! -f "$dir/.unpacked" ]]; then
    log "fetching Heimdal $ver (apt-get download, not installed)"
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    # Every package at the same source version (they are built together).
    if (cd "$dir.tmp" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" \
      "${packages[@]/%/=$ver}" >&2 2>&1); then
      for deb in "$dir.tmp"/*.deb; do dpkg-deb -x "$deb" "$dir.tmp/root"; done
      rm -f "$dir.tmp"/*.deb
      echo "heimdal $ver" >"$dir.tmp/package"
      touch "$dir.tmp/.unpacked"
      rm -rf "$dir"
      mv "$dir.tmp" "$dir"
    else
      log "download of Heimdal $ver failed"
      rm -rf "$dir.tmp"
      dir=""
    fi
  fi
fi
if [[ -z "$dir" ]]; then
  dir="$(find "$cache_root" -mindepth 2 -maxdepth 2 -name .unpacked -printf '%h\n' 2>/dev/null |
    sort -V | tail -n 1)"
  [[ -n "$dir" ]] || { log "no Heimdal tree in $cache_root and none could be downloaded"; exit 1; }
  log "using cached $(cat "$dir/package" 2>/dev/null || echo "$dir")"
fi
kdc="$dir/root/usr/lib/heimdal-servers/kdc"
[[ -x "$kdc" ]] || { log "$kdc missing in the unpacked tree"; exit 1; }
# Every library resolves inside the tree or from the system.
if LD_LIBRARY_PATH="$dir/root/usr/lib/x86_64-linux-gnu" ldd "$kdc" "$dir/root/usr/bin/kadmin.heimdal" |
  grep -q 'not found'; then
  log "unresolved libraries:"
  LD_LIBRARY_PATH="$dir/root/usr/lib/x86_64-linux-gnu" ldd "$kdc" | grep 'not found' >&2
  exit 1
fi
echo "ROOT=$dir/root VERSION=${dir##*/}"
