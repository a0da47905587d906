#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages (when missing), build, tap.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm test
