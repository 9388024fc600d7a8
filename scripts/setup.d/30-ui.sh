#!/usr/bin/env bash
# Web map (ui/): Debian chromium for the browser tests, npm dependencies from
# ui/package-lock.json, and the esbuild bundle in ui/dist (embedded into the
# agent by ui/CMakeLists.txt). Idempotent: each step runs only when needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ui="$root/ui"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. Chromium (Debian package; the tests never download a browser).
if [ -x /usr/bin/chromium ]; then
  echo "setup(ui): chromium present"
else
  echo "setup(ui): installing Debian chromium"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# 2. npm ci when node_modules is missing or package-lock.json changed since the
#    last install (npm writes node_modules/.package-lock.json on every install).
lock="$ui/package-lock.json"
stamp="$ui/node_modules/.caretta-lock.sha256"
want=$(sha256sum "$lock" | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ -d "$ui/node_modules" ] && [ "$want" = "$have" ]; then
  echo "setup(ui): node_modules up to date"
else
  echo "setup(ui): npm ci in ui/"
  (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

# 3. Bundle when a source is newer than ui/dist (build.sh --if-stale is silent
#    when there is nothing to do).
out=$(bash "$ui/build.sh" --if-stale)
if [ -n "$out" ]; then
  echo "setup(ui): $out"
else
  echo "setup(ui): ui/dist up to date"
fi
