#!/usr/bin/env bash
# Runs every test tier (`deno task test`), never stopping at a failing tier, then prints a
# per-tier table (passed, failed, skipped) and, as the very last line,
# `N passed, N failed, N skipped` summed over all tiers. A skipped test is one deno reports as
# "ignored": every skip goes through tests/harness/tiers.ts skipUnless, so its name ends in
# `[skipped: <reason>]`; the reasons are listed under the table.
# Exit status: 0 when nothing failed, 1 otherwise.
#
# Tiers: check (deno task check: fmt, lint, type check — 1 count each), wasm (the crypto core
# rebuilt byte-for-byte, crypto-wasm/build.sh --verify), rust (cargo unit tests,
# crypto-wasm/build.sh --test), unit (deno task test:unit), integration (deno task
# test:integration; needs root for namespaces), faults (deno task test:faults: hostile traffic,
# replay/tamper, crash safety, process faults with real daemons; needs root), vm (deno task test:vm; real ESP kernel).
#
# Options: --only TIER[,TIER…] runs a subset (e.g. --only unit,integration).
# The whole script is one function, parsed before it runs: editing this file during a run
# (e.g. a git pull) cannot change what a running copy does.
test_all() {
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DENO_NO_UPDATE_CHECK=1
# CI logs are files: no colour codes.
[ "${CI:-}" = true ] && export NO_COLOR=1

only=""
while [ $# -gt 0 ]; do
  case "$1" in
  --only) only="${2:-}"; shift 2 ;;
  --only=*) only="${1#--only=}"; shift ;;
  --) shift ;;
  *) echo "usage: $0 [--only TIER[,TIER...]]" >&2; exit 2 ;;
  esac
done
local t
for t in ${only//,/ }; do
  case "$t" in
  check | wasm | rust | unit | integration | faults | vm) ;;
  *) echo "unknown tier '$t' (tiers: check wasm rust unit integration faults vm)" >&2; exit 2 ;;
  esac
done

logdir="$(mktemp -d "${TMPDIR:-/tmp}/kink-tests.XXXXXX")"
trap 'rm -rf "$logdir"' EXIT
names=() passes=() fails=() skips=() notes=() secs=()
total_pass=0 total_fail=0 total_skip=0
t_all=$(date +%s)

want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

banner() { printf '\n==== tier %s: %s ====\n' "$1" "$2"; }

record() { # name passed failed skipped seconds note
  names+=("$1") passes+=("$2") fails+=("$3") skips+=("$4") secs+=("$5") notes+=("$6")
  total_pass=$((total_pass + $2)) total_fail=$((total_fail + $3)) total_skip=$((total_skip + $4))
  printf '==== tier %s: %s passed, %s failed, %s skipped (%ss)%s\n' "$1" "$2" "$3" "$4" "$5" "${6:+ — $6}"
}

# "N ignored" of deno's summary line (0 when absent).
ignored_of() { sed -nE 's/.*\| ([0-9]+) ignored.*/\1/p' <<<"$1" | tail -1 | grep . || echo 0; }

# The reasons of the skipped tests in a log: deno prints "<name> [skipped: <reason>] ... ignored".
skip_reasons() { # tier
  strip "$logdir/$1.log" | sed -nE 's/.*\[skipped: ([^]]*)\] \.\.\. ignored.*/\1/p' | sort | uniq -c |
    sed -E "s/^ *([0-9]+) (.*)/    $1: \1 × \2/" >>"$logdir/skips"
}

strip() { sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1"; }

# Time limit of a tier in seconds (a hung test must not hang CI): KINK_TIMEOUT_<TIER> or default.
limit_of() {
  local var="KINK_TIMEOUT_${1^^}" def
  case "$1" in
  vm) def=1800 ;; wasm | integration | faults) def=1200 ;; *) def=900 ;;
  esac
  echo "${!var:-$def}"
}

# runs "$@" under the tier's time limit (the whole process group is signalled), with output
# shown and saved to $logdir/$tier.log; sets rc, dt and timeout_note
run_logged() {
  local tier="$1"; shift
  local t0 limit; t0=$(date +%s) limit=$(limit_of "$tier")
  timeout --kill-after=30 "$limit" "$@" 2>&1 | tee "$logdir/$tier.log"
  rc=${PIPESTATUS[0]}
  dt=$(($(date +%s) - t0))
  timeout_note=""
  if [ "$rc" = 124 ] || [ "$rc" = 137 ] && [ "$dt" -ge "$limit" ]; then
    timeout_note="timed out after ${limit}s"
    echo "!!!! tier $tier $timeout_note"
  fi
}

# Deno test summary: "ok | 12 passed (3 steps) | 0 failed | 1 ignored (2s)" → counts top-level
# tests (a failing step fails its test); a crash without summary counts as 1 failure.
deno_tier() { # tier, cmd...
  local tier="$1"; shift
  banner "$tier" "$*"
  run_logged "$tier" "$@"
  local line p=0 f=0 s=0 note=""
  line=$(strip "$logdir/$tier.log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1)
  if [ -n "$line" ]; then
    p=$(sed -E 's/^[^|]*\| ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$line")
    s=$(ignored_of "$line")
    note=$(sed -E 's/^(ok|FAILED) \| //; s/ \([0-9hms.µ]+\)$//' <<<"$line")
  fi
  skip_reasons "$tier"
  if [ -n "$timeout_note" ]; then
    f=$((f + 1)) note="$timeout_note; $note"
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1 note="exit $rc without a failing-test summary (load/type error?)"
  fi
  record "$tier" "$p" "$f" "$s" "$dt" "$note"
}

# Tier check: each part of deno.json's "check" task counts as one test.
if want check; then
  banner check "deno task check (each '&&' part separately)"
  t0=$(date +%s) p=0 f=0 failed_parts=""
  check_cmd=$(deno eval 'console.log(JSON.parse(Deno.readTextFileSync("deno.json")).tasks.check)')
  IFS=$'\n' read -r -d '' -a parts < <(sed 's/ && /\n/g' <<<"$check_cmd" && printf '\0')
  for part in "${parts[@]}"; do
    [ -n "$part" ] || continue
    echo "---- $part"
    if timeout --kill-after=30 "$(limit_of check)" bash -c "$part" 2>&1; then
      p=$((p + 1))
    else
      f=$((f + 1)) failed_parts="$failed_parts [$part]"
    fi
  done
  record check "$p" "$f" 0 "$(($(date +%s) - t0))" "${failed_parts:+failed:$failed_parts}"
fi

# Tiers wasm + rust: only once the crypto core's build script exists.
if [ -f crypto-wasm/build.sh ]; then
  if want wasm; then
    banner wasm "bash crypto-wasm/build.sh --verify"
    run_logged wasm bash crypto-wasm/build.sh --verify
    if [ "$rc" -eq 0 ]; then record wasm 1 0 0 "$dt" "pkg/ is byte-identical to a fresh build"
    else record wasm 0 1 0 "$dt" "exit $rc${timeout_note:+ ($timeout_note)}"; fi
  fi
  if want rust; then
    banner rust "bash crypto-wasm/build.sh --test"
    run_logged rust bash crypto-wasm/build.sh --test
    p=$(strip "$logdir/rust.log" | sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(strip "$logdir/rust.log" | sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\2/p' | awk '{s+=$1} END {print s+0}')
    s=$(strip "$logdir/rust.log" | sed -nE 's/^test result: .*; ([0-9]+) ignored;.*/\1/p' | awk '{s+=$1} END {print s+0}')
    note=""
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1 note="exit $rc (build failed?) $timeout_note"; fi
    record rust "$p" "$f" "$s" "$dt" "$note"
  fi
else
  echo "(no crypto-wasm/build.sh: wasm and rust tiers skipped)"
fi

want unit && deno_tier unit deno task --quiet test:unit

if want integration; then
  [ "$(id -u)" = 0 ] || echo "(not root: namespace tests in the integration tier will be skipped)"
  deno_tier integration deno task --quiet test:integration
fi

if want faults; then
  [ "$(id -u)" = 0 ] || echo "(not root: the daemon fault tests will be skipped)"
  deno_tier faults deno task --quiet test:faults
fi

if want vm; then
  if [ -f tests/harness/vm_run.ts ]; then
    banner vm "deno task test:vm"
    run_logged vm deno task --quiet test:vm
    # vm_run.ts ends with its own "N passed, N failed, N skipped"; fall back to deno's summary.
    line=$(strip "$logdir/vm.log" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -1)
    if [ -n "$line" ]; then
      read -r p f s < <(sed -E 's/^([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/' <<<"$line")
      note=""
    else
      line=$(strip "$logdir/vm.log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1)
      p=$(sed -nE 's/^[^|]*\| ([0-9]+) passed.*/\1/p' <<<"$line") f=$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$line")
      s=$(ignored_of "$line")
      p=${p:-0} f=${f:-0} note=""
    fi
    skip_reasons vm
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1 note="exit $rc without failing-test count $timeout_note"; fi
    record vm "$p" "$f" "$s" "$dt" "$note"
  else
    echo "(no tests/harness/vm_run.ts: vm tier skipped)"
  fi
fi

echo
echo "==== summary ($(($(date +%s) - t_all)) s)"
for i in "${!names[@]}"; do
  printf '  %-12s %5s passed %5s failed %5s skipped %6ss  %s\n' "${names[$i]}" "${passes[$i]}" \
    "${fails[$i]}" "${skips[$i]}" "${secs[$i]}" "${notes[$i]}"
done
if [ -s "$logdir/skips" ]; then
  echo "  skipped, by reason:"
  cat "$logdir/skips"
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
}
test_all "$@"
exit $?
