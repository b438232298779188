#!/usr/bin/env bash
# Installs what kink needs, idempotently, saying what it does. Source it, then call
#   kink_install tests   # deno + every package in scripts/apt-packages.txt + Deno deps
#   kink_install main    # deno + scripts/apt-packages-main.txt + Deno deps
#   kink_install bench   # kink_install tests + scripts/apt-packages-bench.txt (load peers)
# (scripts/run-tests.sh and scripts/run-main.sh do exactly that.)
#
# - apt: `apt-get update` at most once per run, and only when a package is missing;
#   then `apt-get install -y --no-install-recommends` of the missing ones (root only).
# - deno: if `deno --version` is not $KINK_DENO_VERSION, `npm i -g deno@$KINK_DENO_VERSION`
#   (installs Debian's nodejs + npm first when npm is absent).
# - Deno dependencies: `deno install` (npm packages pinned in deno.json / deno.lock).
# - tests only: Heimdal's KDC unpacked into a cache folder (scripts/heimdal/prepare.sh: apt-get
#   download + dpkg-deb -x, never installed, since it conflicts with MIT's KDC packages).

KINK_DENO_VERSION=2.9.6
KINK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DENO_NO_UPDATE_CHECK=1
export DEBIAN_FRONTEND=noninteractive
# Trust the system's CA store too (machines behind a TLS-inspecting egress add their CA there):
# node/npm only read their built-in list plus NODE_EXTRA_CA_CERTS; deno its built-in list
# unless DENO_TLS_CA_STORE says otherwise.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
export DENO_TLS_CA_STORE="${DENO_TLS_CA_STORE:-mozilla,system}"
_kink_apt_updated=0

kink_say() { echo "[install] $*"; }

kink_die() {
  echo "[install] ERROR: $*" >&2
  return 1
}

# Package names of a list file: one per line, '#' comments and blanks ignored.
kink_read_list() {
  [ -f "$1" ] || return 0
  sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1" | awk 'NF && !seen[$0]++'
}

kink_apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

# kink_apt PACKAGE... : installs the missing ones.
kink_apt() {
  local missing
  mapfile -t missing < <(kink_apt_missing "$@")
  if [ "${#missing[@]}" -eq 0 ]; then
    kink_say "apt: all $# packages already installed"
    return 0
  fi
  [ "$(id -u)" = 0 ] || kink_die "apt: missing ${missing[*]}; run as root (or install them yourself)" || return 1
  if [ "$_kink_apt_updated" = 0 ]; then
    kink_say "apt: apt-get update"
    apt-get update -qq || kink_die "apt-get update failed" || return 1
    _kink_apt_updated=1
  fi
  kink_say "apt: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/kink-apt-install.log 2>&1 || {
    tail -20 /tmp/kink-apt-install.log >&2
    kink_die "apt-get install failed (full log: /tmp/kink-apt-install.log)"
    return 1
  }
  kink_say "apt: done"
}

kink_deno_ok() {
  command -v deno >/dev/null 2>&1 &&
    [ "$(deno --version 2>/dev/null | head -1 | awk '{print $2}')" = "$KINK_DENO_VERSION" ]
}

kink_install_deno() {
  if kink_deno_ok; then
    kink_say "deno: $KINK_DENO_VERSION already installed ($(command -v deno))"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    kink_say "deno: npm not found; installing Debian's nodejs and npm"
    kink_apt ca-certificates nodejs npm || return 1
  fi
  kink_say "deno: npm i -g deno@$KINK_DENO_VERSION"
  npm i -g --no-fund --no-audit --loglevel=error "deno@$KINK_DENO_VERSION" ||
    kink_die "npm could not install deno@$KINK_DENO_VERSION" || return 1
  hash -r
  kink_deno_ok || kink_die "deno $KINK_DENO_VERSION not on PATH after npm install (PATH=$PATH)" || return 1
  kink_say "deno: installed $(deno --version | head -1) at $(command -v deno)"
}

kink_cache_deps() {
  kink_say "deno: caching dependencies (deno install)"
  (cd "$KINK_ROOT" && deno install --quiet) || kink_die "deno install failed" || return 1
}

# kink_install tests|main
kink_install() {
  local what="${1:-tests}" list pkgs
  case "$what" in
  tests) list="$KINK_ROOT/scripts/apt-packages.txt" ;;
  main) list="$KINK_ROOT/scripts/apt-packages-main.txt" ;;
  bench)
    kink_install tests || return 1
    list="$KINK_ROOT/scripts/apt-packages-bench.txt"
    ;;
  *) kink_die "kink_install: unknown set '$what' (tests|main|bench)" || return 1 ;;
  esac
  kink_say "setting up kink ($what) in $KINK_ROOT"
  mapfile -t pkgs < <(kink_read_list "$list")
  if [ "${#pkgs[@]}" -gt 0 ]; then
    kink_say "apt: checking ${#pkgs[@]} packages from ${list#"$KINK_ROOT"/}"
    kink_apt "${pkgs[@]}" || return 1
  fi
  kink_install_deno || return 1
  kink_cache_deps || return 1
  if [ "$what" = tests ]; then
    kink_say "heimdal: preparing the unpacked Heimdal KDC (scripts/heimdal/prepare.sh)"
    bash "$KINK_ROOT/scripts/heimdal/prepare.sh" >/dev/null ||
      kink_die "heimdal: scripts/heimdal/prepare.sh failed (the Heimdal tests will fail)" || return 1
  fi
  kink_say "ready"
}
