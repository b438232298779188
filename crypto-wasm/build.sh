#!/usr/bin/env bash
# Builds kink's crypto core (Rust -> wasm32 -> wasm-bindgen bundler output).
#
#   bash crypto-wasm/build.sh            rebuild crypto-wasm/pkg/ from source
#   bash crypto-wasm/build.sh --verify   rebuild in a temporary folder and fail
#                                        unless byte-identical to crypto-wasm/pkg/
#   bash crypto-wasm/build.sh --test     run the Rust unit tests on the host
#
# Toolchain: Debian 12's rustc 1.63 / cargo 1.65 (+ libstd-rust-dev-wasm32, lld)
# and the wasm-bindgen CLI at exactly the version of the wasm-bindgen crate in
# Cargo.lock. Missing apt packages are installed when running as root; a missing
# wasm-bindgen CLI is built with `cargo install --locked` by a cargo >= 1.70
# (rustup's) if present, else with Debian's cargo from tools/wasm-bindgen-cli.lock.
# Debian's cargo 1.65 reads the crate registry through the sparse protocol, which
# it only offers as an unstable option: RUSTC_BOOTSTRAP=1 + -Z sparse-registry.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE="${1:-build}"
case "$MODE" in
build | --verify | --test) ;;
*)
  echo "usage: $0 [--verify | --test]" >&2
  exit 2
  ;;
esac

say() { echo "[build-wasm] $*" >&2; }

APT_PACKAGES=(rustc cargo libstd-rust-dev-wasm32 lld)
DEB_RUSTC=/usr/bin/rustc
DEB_CARGO=/usr/bin/cargo
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, "", $0); print; exit}' "$HERE/Cargo.lock")"
[ -n "$WB_VERSION" ] || {
  say "cannot find the wasm-bindgen version in Cargo.lock"
  exit 1
}

ensure_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    say "apt packages present: ${APT_PACKAGES[*]}"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    say "missing apt packages: ${missing[*]} (run as root or: apt-get install -y --no-install-recommends ${missing[*]})"
    exit 1
  fi
  say "installing apt packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# Debian cargo with the sparse registry protocol.
deb_cargo() {
  RUSTC="$DEB_RUSTC" RUSTC_BOOTSTRAP=1 CARGO_REGISTRIES_CRATES_IO_PROTOCOL=sparse \
    "$DEB_CARGO" -Z sparse-registry "$@"
}

find_wasm_bindgen() {
  local c
  for c in "$(command -v wasm-bindgen || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen"; do
    if [ -n "$c" ] && [ -x "$c" ] && [ "$("$c" --version 2>/dev/null)" = "wasm-bindgen $WB_VERSION" ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

# The CLI with Debian's cargo/rustc 1.63: the CLI's own lockfile needs newer
# rustc (time-core, regex-syntax), so build its source with
# tools/wasm-bindgen-cli.lock, the same lockfile with `time` and `regex`
# downgraded to releases that support rustc 1.63. The source is fetched by
# cargo itself: `cargo install --locked` downloads and unpacks the crate and
# its dependencies, then stops (before compiling) at the rustc check.
build_wasm_bindgen_debian() {
  local lock="$HERE/tools/wasm-bindgen-cli.lock" home="${CARGO_HOME:-$HOME/.cargo}"
  say "building wasm-bindgen CLI $WB_VERSION with Debian's cargo/rustc $($DEB_RUSTC --version | awk '{print $2}') and tools/wasm-bindgen-cli.lock (several minutes)"
  say "fetching the wasm-bindgen-cli $WB_VERSION crate (the expected rustc-version refusal that ends this step is ignored)"
  local scratch
  scratch="$(mktemp -d)"
  deb_cargo install wasm-bindgen-cli --version "$WB_VERSION" --locked --root "$scratch/unused" >&2 2>&1 || true
  local src
  src="$(ls -d "$home"/registry/src/*/wasm-bindgen-cli-"$WB_VERSION" 2>/dev/null | head -1)"
  if [ -z "$src" ]; then
    say "could not fetch the wasm-bindgen-cli $WB_VERSION source"
    rm -rf "$scratch"
    exit 1
  fi
  cp -r "$src" "$scratch/cli"
  cp "$lock" "$scratch/cli/Cargo.lock"
  say "compiling wasm-bindgen CLI $WB_VERSION (cargo install --path … --locked --bin wasm-bindgen)"
  deb_cargo install --path "$scratch/cli" --locked --bin wasm-bindgen --root "$home" >&2
  rm -rf "$scratch"
}

ensure_wasm_bindgen() {
  if WB="$(find_wasm_bindgen)"; then
    say "wasm-bindgen CLI $WB_VERSION: $WB"
    return
  fi
  # A host cargo new enough for the CLI's own locked dependencies (rustup's).
  local cargo=""
  for c in "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" "$(command -v cargo || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      local minor
      minor="$("$c" --version 2>/dev/null | awk '{split($2, v, "."); print v[2]}')"
      if [ "${minor:-0}" -ge 70 ]; then
        cargo="$c"
        break
      fi
    fi
  done
  if [ -n "$cargo" ]; then
    say "building wasm-bindgen CLI $WB_VERSION with $cargo (cargo install wasm-bindgen-cli --version $WB_VERSION --locked)"
    "$cargo" install wasm-bindgen-cli --version "$WB_VERSION" --locked >&2
  else
    build_wasm_bindgen_debian
  fi
  WB="$(find_wasm_bindgen)" || {
    say "wasm-bindgen $WB_VERSION not found after building it"
    exit 1
  }
  say "wasm-bindgen CLI $WB_VERSION: $WB"
}

# Compiles the crate in $1 (a folder holding Cargo.toml, Cargo.lock, src/) and
# writes the bindings to $2.
build_in() {
  local dir="$1" out="$2"
  local target_dir="$dir/target"
  local reg="${CARGO_HOME:-$HOME/.cargo}/registry/src"
  # Reproducibility: no absolute paths of this machine in the module, one
  # codegen unit, no incremental state, fixed profile (Cargo.toml).
  # (rustc applies the last matching --remap-path-prefix, so the most specific go last.)
  local flags="--remap-path-prefix=$HOME=/home --remap-path-prefix=$reg=/cargo/registry"
  flags="$flags --remap-path-prefix=$dir=/kink/crypto-wasm -C target-cpu=generic -C target-feature=+bulk-memory"
  say "fetching crates (Cargo.lock, sparse registry)"
  (cd "$dir" && deb_cargo fetch --locked >&2)
  say "compiling wasm32-unknown-unknown with $($DEB_RUSTC --version)"
  (cd "$dir" && RUSTFLAGS="$flags" CARGO_TARGET_DIR="$target_dir" SOURCE_DATE_EPOCH=0 \
    deb_cargo build --locked --offline --release --target wasm32-unknown-unknown >&2)
  local wasm="$target_dir/wasm32-unknown-unknown/release/kink_crypto.wasm"
  say "generating bindings: wasm-bindgen --target bundler"
  rm -rf "$out"
  mkdir -p "$out"
  "$WB" --target bundler --out-dir "$out" --out-name kink_crypto "$wasm"
  local hdr="// @generated by crypto-wasm/build.sh (wasm-bindgen $WB_VERSION) from crypto-wasm/src. Do not edit."
  local f
  for f in "$out"/*.js "$out"/*.d.ts; do
    { echo "$hdr"; cat "$f"; } >"$f.tmp" && mv "$f.tmp" "$f"
  done
  local digest crate_version rustc_version
  digest="$(sha256sum "$out/kink_crypto_bg.wasm" | cut -c1-16)"
  crate_version="$(awk -F'"' '/^version = / {print $2; exit}' "$dir/Cargo.toml")"
  rustc_version="$($DEB_RUSTC --version | awk '{print $2}')"
  cat >"$out/build_id.js" <<EOF
$hdr
/** Identifies this build of the crypto core. */
export const BUILD_ID = "kink-crypto $crate_version (rustc $rustc_version, wasm-bindgen $WB_VERSION, wasm sha256:$digest)";
EOF
  cat >"$out/build_id.d.ts" <<EOF
$hdr
/** Identifies this build of the crypto core. */
export declare const BUILD_ID: string;
EOF
  printf '* linguist-generated=true\n*.wasm binary\n' >"$out/.gitattributes"
  rm -f "$out/.gitignore" "$out/package.json"
}

case "$MODE" in
--test)
  ensure_apt
  say "running the Rust unit tests on the host ($($DEB_RUSTC --version))"
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  (cd "$HERE" && deb_cargo fetch --locked >&2)
  status=0
  (cd "$HERE" && deb_cargo test --locked --offline) >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then cat "$log" >&2; fi
  grep -E '^test result:|^running [0-9]+ tests?' "$log" || true
  exit "$status"
  ;;
build)
  start=$(date +%s)
  ensure_apt
  ensure_wasm_bindgen
  build_in "$HERE" "$HERE/pkg"
  say "wrote $HERE/pkg in $(($(date +%s) - start)) s: $(cat "$HERE/pkg/build_id.js" | tail -1)"
  ;;
--verify)
  start=$(date +%s)
  ensure_apt
  ensure_wasm_bindgen
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/crypto-wasm"
  cp -r "$HERE/src" "$HERE/Cargo.toml" "$HERE/Cargo.lock" "$tmp/crypto-wasm/"
  say "clean rebuild in $tmp"
  build_in "$tmp/crypto-wasm" "$tmp/pkg"
  if diff -r "$tmp/pkg" "$HERE/pkg" >&2; then
    say "OK: rebuilt output is byte-identical to crypto-wasm/pkg ($(($(date +%s) - start)) s)"
  else
    say "FAIL: rebuilt output differs from the committed crypto-wasm/pkg"
    exit 1
  fi
  ;;
esac
