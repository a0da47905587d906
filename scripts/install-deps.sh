#!/usr/bin/env bash
# Installs the Debian 12 packages this project uses, when missing (needs root).
#   bash scripts/install-deps.sh --build   what `npm ci` builds the addon with: cmake, g++, make,
#                                           libzstd-dev (the zstd compressor)
#   bash scripts/install-deps.sh           the above and the test suite's tools: a real registry,
#                                           skopeo as an independent archive reader, zstd, mbuffer
#                                           (benchmark peer), mt-st, tmux (terminal tests),
#                                           apache2-utils (htpasswd), openssl, ca-certificates
# The tape rig (test/tape/rig/tape-vm) installs its own packages on first use.
set -euo pipefail
pkgs=(cmake g++ make libzstd-dev python3)
if [ "${1:-}" != --build ]; then
  pkgs+=(docker-registry skopeo zstd mbuffer mt-st tmux apache2-utils openssl ca-certificates curl strace)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { echo "install-deps: missing ${missing[*]}; run this as root (sudo bash $0 $*)" >&2; exit 1; }
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine's package lists may be empty or stale: always update before installing.
  # Lock::Timeout: another apt run (a second job on the machine, the tape rig) finishes first.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's docker-registry package starts a system service on :5000; the tests start their own
# registries on free loopback ports and do not need it.
