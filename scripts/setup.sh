#!/usr/bin/env bash
# Installs every Debian package wsgate needs to build, test and benchmark.
# Idempotent: does nothing when all packages are already present.
set -euo pipefail

packages=(
  meson ninja-build pkg-config g++ clang clang-format libclang-rt-14-dev
  liburing-dev libxxhash-dev libmimalloc-dev libbenchmark-dev libgtest-dev
  libssl-dev openssl curl zlib1g-dev libsimdjson-dev libtomlplusplus-dev libhiredis-dev redis-server
  python3 python3-websockets python3-prometheus-client python3-cryptography python3-jwt gnuplot-nox
  chromium libnss3-tools tshark
  nodejs npm
  nginx haproxy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# Node may come from another source than Debian (nodesource ships npm inside
# nodejs); do not fight it when node and npm already work.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}")
  missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | sed '/^$/d'))

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no, non-interactively.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  # nginx and haproxy are only run by scripts/bench_proxy.sh, from configs of
  # its own on loopback ports: their packages must not start them as system
  # services. A policy-rc.d answering 101 ("action forbidden") stops the
  # start while they install (Debian policy §9.3.3); then they are disabled.
  policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" = 1 ] && rm -f "$policy"
  if [ -d /run/systemd/system ]; then
    systemctl disable --now nginx haproxy >/dev/null 2>&1 || true
  fi
fi

# Node's ws, playwright-core and centrifuge live in a project-local folder;
# a package added to package.json since the last install installs it again.
root=$(cd "$(dirname "$0")/.." && pwd)
peers="$root/tests/peers"
if [ -f "$peers/package.json" ]; then
  need_install=0
  for module in ws playwright-core centrifuge; do
    [ -d "$peers/node_modules/$module" ] || need_install=1
  done
  if [ $need_install = 1 ]; then
    (cd "$peers" && npm install --no-audit --no-fund --silent)
  fi
fi
