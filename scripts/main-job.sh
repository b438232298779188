#!/usr/bin/env bash
# The main job (`deno task main`): the two-gateway demo (`deno task demo`, scripts/demo.ts) — a
# throwaway MIT realm, two `kink daemon` gateways in network namespaces with hosts behind them,
# ESP traffic negotiated by KINK; inside the qemu VM when the running kernel has no ESP.
# The racoon2 capture decode that was the main job before is a README command
# (deno task kink decode tests/fixtures/racoon2/kink.pcap --keytab …/B.keytab,…/A.keytab).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "[main] deno task demo"
exec deno task --quiet demo
