#!/usr/bin/env bash
# Proves that a test run killed with SIGKILL leaves nothing behind.
#
# Each round starts a real `deno test` of one of the harness's integration test files, waits
# until the run owns what that file creates (round 1: a KDC on loopback; round 2: network
# namespaces; round 3: a probe child process owning KDCs, namespaces and a process inside a
# namespace), kills the deno process with SIGKILL, waits 4 s, then lists every KDC process,
# namespace and $TMPDIR entry named `kink-test-<pid>-…` whose owner <pid> is no longer alive.
# Exit 0 when nothing is left after every round.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp="${TMPDIR:-/tmp}"
bad=0
alive() { ps -p "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

# Everything named kink-test-<pid>- whose <pid> is dead.
stale() {
  local pid
  {
    ps -e -ww -o args= | grep -o 'kink-test-[0-9]*-' | sed 's/^/process of /'
    ip netns list 2>/dev/null | cut -d' ' -f1 | grep '^kink-test-[0-9]*-' | sed 's/^/netns /'
    ls "$tmp" | grep '^kink-test-[0-9]*-' | sed "s|^|dir $tmp/|"
  } | while read -r what; do
    pid=$(grep -o 'kink-test-[0-9]*-' <<<"$what" | head -1 | tr -dc 0-9)
    alive "$pid" || echo "$what"
  done | sort -u
}

round() { # n file wait-condition-description test-command
  local n="$1" file="$2" want="$3"
  deno test --quiet --allow-read --allow-write --allow-run --allow-env \
    --allow-net=127.0.0.1,[::1] "$file" >/dev/null 2>&1 &
  local pid=$! ok=0 kdcs ns
  for _ in $(seq 1 1000); do
    kdcs=$(ps -e -ww -o args= | grep -c '^krb5kdc .*kink-test-')
    ns=$(ip netns list 2>/dev/null | grep -c 'kink-test-')
    case "$want" in
    kdc) [ "$kdcs" -gt 0 ] && ok=1 ;;
    netns) [ "$ns" -gt 0 ] && ok=1 ;;
    both) [ "$kdcs" -gt 1 ] && [ "$ns" -gt 0 ] && ok=1 ;;
    esac
    [ "$ok" = 1 ] && break
    alive "$pid" || break
    sleep 0.02
  done
  echo "round $n ($file): deno test pid $pid; at kill time: KDCs running=$kdcs, kink-test namespaces=$ns, kink-test dirs=$(ls "$tmp" | grep -c '^kink-test-')"
  if [ "$ok" != 1 ]; then
    echo "round $n: the run ended before owning what it should; inconclusive"; bad=1; return
  fi
  kill -KILL "$pid"; wait "$pid" 2>/dev/null
  sleep 4
  local left; left=$(stale)
  if [ -n "$left" ]; then
    echo "round $n: LEFT BEHIND 4 s after SIGKILL:"; sed 's/^/    /' <<<"$left"; bad=1
  else
    echo "round $n: 4 s after SIGKILL: no krb5kdc, namespace or dir of a dead kink-test owner"
  fi
}

[ -z "$(stale)" ] || { echo "stale leftovers before starting:"; stale; }
round 1 tests/integration/harness/krb5_realm_test.ts kdc
if [ "$(id -u)" = 0 ]; then
  round 2 tests/integration/harness/netns_test.ts netns
  round 3 tests/integration/harness/cleanup_test.ts both
fi
echo "pgrep -a krb5kdc:"; pgrep -a krb5kdc | sed 's/^/    /'
echo "ip netns list:"; ip netns list 2>/dev/null | sed 's/^/    /'
echo "ls $tmp | grep kink-test:"; ls "$tmp" | grep kink-test | sed 's/^/    /'
exit "$bad"
