#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright; no browser is ever downloaded by a test tool.
# Install it (with a CJK font, so the Chinese pages render text rather than boxes) when it is missing. The package
# lists are refreshed only if the first try cannot find the packages, so a machine with fresh lists skips the wait.
set -euo pipefail
command -v chromium >/dev/null && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
packages=(chromium fonts-wqy-microhei)
$sudo apt-get install -y -q "${packages[@]}" >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${packages[@]}" >/dev/null; }
