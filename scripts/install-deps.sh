#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, when missing (needs root; Debian 12):
# a real registry, skopeo as an independent archive reader, zstd, mbuffer (benchmark peer),
# mt-st, tmux (terminal tests), apache2-utils (htpasswd), openssl, cmake/g++ for the addon.
# The tape rig (../shared/tape-rig/tape-vm) installs its own packages on first use.
set -euo pipefail
pkgs=(docker-registry skopeo zstd libzstd-dev mbuffer mt-st tmux apache2-utils openssl cmake g++ make python3 curl strace)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's docker-registry package starts a system service on :5000; the tests start their own
# registries on free loopback ports and do not need it.
