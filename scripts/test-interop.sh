#!/usr/bin/env bash
# Runs the interoperability tests (`deno task test:interop`), with the integration tier's flags:
#   - tests/integration/interop/   kink's engine live against racoon2's kinkd (root; the kinkd
#                                   test peer package at ../shared/interop/racoon2/peer, or
#                                   KINK_KINKD_PEER)
#   - tests/integration/kerberos/heimdal_test.ts      Heimdal's KDC (scripts/heimdal/prepare.sh)
#   - tests/integration/kerberos/cross_realm_test.ts  two and three MIT realms
# They are part of the integration tier too (scripts/test-all.sh); this runs only them.
# Extra arguments go to `deno test` (e.g. --filter kinkd).
# With KINK_INTEROP_VM=1 it then also runs tests/vm/interop (kinkd on the real PF_KEY, kink on
# NETLINK_XFRM, ESP pings) through the VM tier's runner, which boots qemu (about 5 min); the
# VM tier (scripts/test-all.sh) runs those anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
paths=()
for p in tests/integration/interop tests/integration/kerberos/heimdal_test.ts \
  tests/integration/kerberos/cross_realm_test.ts; do
  [ -e "$p" ] && paths+=("$p")
done
if [ "${KINK_INTEROP_VM:-}" != 1 ]; then
  exec deno test --quiet --allow-read --allow-write --allow-run --allow-env \
    --allow-net=127.0.0.1,[::1] --allow-ffi=/lib/x86_64-linux-gnu/libc.so.6 "$@" "${paths[@]}"
fi
rc=0
deno test --quiet --allow-read --allow-write --allow-run --allow-env \
  --allow-net=127.0.0.1,[::1] --allow-ffi=/lib/x86_64-linux-gnu/libc.so.6 "$@" "${paths[@]}" || rc=$?
deno run --allow-read --allow-write --allow-run --allow-env tests/harness/vm_run.ts \
  tests/vm/interop || rc=$?
exit "$rc"
