#!/usr/bin/env bash
# Installs Debian's chromium for the one real-browser test, when it is missing and we may.
# The test itself skips with a visible reason where chromium is still absent.
set -u
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "install-browser: not root and no sudo: the browser test will skip"; exit 0; fi
else SUDO=""; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1
$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 \
  && echo "install-browser: chromium installed" \
  || echo "install-browser: apt-get could not install chromium: the browser test will skip"
