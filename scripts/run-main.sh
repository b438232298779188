#!/usr/bin/env bash
# README command 1: install what the main job needs (idempotent), then run it.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/install.sh
. scripts/install.sh
kink_install main || exit 1
exec bash scripts/main-job.sh "$@"
