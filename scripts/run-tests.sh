#!/usr/bin/env bash
# README command 2: install what the tests need (idempotent), then run every test tier.
# The last line printed is `N passed, N failed, N skipped` over all tiers; exit status 0 only if none failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/install.sh
. scripts/install.sh
kink_install tests || exit 1
exec bash scripts/test-all.sh "$@"
