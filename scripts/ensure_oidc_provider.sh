#!/usr/bin/env bash
# `make demo` and the single sign-on tests (tests/sso/) run a real OpenID provider, scripts/oidc_provider.mjs: the npm
# `oidc-provider` package (pinned in package.json / package-lock.json) under Node, from node_modules/ (git ignores
# it), as scripts/ensure_axe.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f node_modules/oidc-provider/package.json ] && [ -f node_modules/jose/package.json ] && exit 0
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's nodejs and npm for oidc-provider"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "npm is missing: install it (sudo apt-get install -y nodejs npm), then run: npm ci" >&2
    exit 1
  fi
fi
echo "installing oidc-provider for single sign-on (the demo's identity provider and the tests'; npm ci)"
npm ci --no-audit --no-fund --silent
