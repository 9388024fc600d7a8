#!/usr/bin/env bash
# Bundles ui/src into ui/dist (index.html, app.js, app.css, app.js.LEGAL.txt)
# with esbuild from ui/node_modules. No external URLs: the agent embeds dist/.
#   ui/build.sh             build
#   ui/build.sh --if-stale  build only when a source (or the lock file) is newer
#                           than dist/, else print nothing and exit 0
set -euo pipefail
ui=$(cd "$(dirname "$0")" && pwd)
src="$ui/src"
dist="$ui/dist"
stamp="$dist/index.html"

if [ "${1:-}" = "--if-stale" ]; then
  if [ -f "$stamp" ] && [ -f "$dist/app.js" ] && [ -f "$dist/app.css" ] &&
     [ -z "$(find "$src" "$ui/package-lock.json" "$ui/build.sh" -newer "$stamp" -print -quit)" ]; then
    exit 0
  fi
fi

esbuild="$ui/node_modules/.bin/esbuild"
if [ ! -x "$esbuild" ]; then
  echo "ui/build.sh: $esbuild is missing; run scripts/setup.sh (it runs 'npm ci' in ui/)" >&2
  exit 1
fi

tmp=$(mktemp -d "$ui/.dist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$esbuild" "$src/app.js" --bundle --minify --format=iife --target=es2020 \
  --platform=browser --legal-comments=external --log-level=warning \
  --outfile="$tmp/app.js"
"$esbuild" "$src/app.css" --bundle --minify --log-level=warning --outfile="$tmp/app.css"
cp "$src/index.html" "$tmp/index.html"

# The page must not reference anything outside the agent (no CDN, no fonts).
if grep -Eno '(src|href)=["'"'"']?(https?:)?//' "$tmp/index.html" ||
   grep -Eno 'url\((["'"'"'])?(https?:)?//' "$tmp/app.css" ||
   grep -Eno '@import' "$tmp/app.css"; then
  echo "ui/build.sh: external URL referenced by index.html or app.css" >&2
  exit 1
fi

mkdir -p "$dist"
# Replace the files (keep the dir so a running dev server keeps serving).
find "$dist" -mindepth 1 -delete
cp -p "$tmp"/* "$dist"/
touch "$stamp" # newest file: marks the build time for --if-stale
echo "ui/build.sh: built $(cd "$dist" && ls | tr '\n' ' ')($(du -sk "$dist" | cut -f1) KiB)"
