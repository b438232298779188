#!/usr/bin/env bash
# The main job (`deno task main`). Later issues change only what this runs.
# Today: decode and verify the real racoon2 KINK capture with both peers' keytabs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "[main] deno task kink decode tests/fixtures/racoon2/kink.pcap --keytab B.keytab,A.keytab"
exec deno task --quiet kink decode tests/fixtures/racoon2/kink.pcap \
  --keytab tests/fixtures/racoon2/B.keytab,tests/fixtures/racoon2/A.keytab
