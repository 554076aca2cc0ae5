#!/usr/bin/env bash
# The accessibility browser tests inject axe-core (pinned in package.json / package-lock.json) into each page.
# npm installs it into node_modules/ (git ignores it); Node and npm come from Debian when missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f node_modules/axe-core/axe.min.js ] && exit 0
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's nodejs and npm for axe-core"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "npm is missing: install it (sudo apt-get install -y nodejs npm), then run: npm ci" >&2
    exit 1
  fi
fi
echo "installing axe-core for the accessibility tests (npm ci)"
npm ci --no-audit --no-fund --silent
