#!/usr/bin/env bash
# Installs every Debian package wsgate needs to build, test and benchmark.
# Idempotent: does nothing when all packages are already present.
set -euo pipefail

packages=(
  meson ninja-build pkg-config g++ clang clang-format libclang-rt-14-dev
  liburing-dev libxxhash-dev libmimalloc-dev libbenchmark-dev libgtest-dev
  libssl-dev zlib1g-dev libsimdjson-dev libtomlplusplus-dev
  python3 python3-websockets python3-prometheus-client gnuplot-nox
  chromium tshark
  nodejs npm
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
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
