#!/usr/bin/env bash
# The whole test suite from a clone with nothing beside it, on a fresh Debian 12 machine (as root):
# system packages when missing (apt-get update first), one build, tap. The suite includes the
# tape tests, run in the project's rig (test/tape/rig/tape-vm installs its own packages and
# downloads on first use), and the release tarball packed and installed offline (test/release).
set -euo pipefail
cd "$(dirname "$0")/.."
# Node.js is not a Debian 12 package at this version (bookworm has 18): say so rather than fail later.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 17) ? 0 : 1)' 2>/dev/null; then
  echo "test.sh: Node.js >= 20.17 is needed (found: $(node -v 2>/dev/null || echo none)); install it from nodejs.org or NodeSource" >&2
  exit 1
fi
bash scripts/install-deps.sh
if [ -d node_modules ]; then
  # An earlier install: bring the addon up to date (it reconfigures when libzstd-dev arrived since).
  node scripts/build-addon.mjs
else
  # No user npm configuration (an npmrc's nodedir would hide a build that needs the network):
  # the install must build the addon once, offline, as on a user's machine (issue 12).
  NPM_CONFIG_USERCONFIG=$(mktemp) npm ci --no-audit --no-fund
fi
npm test
