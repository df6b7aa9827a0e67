#!/usr/bin/env bash
# Browser tests drive Debian's Chromium; install it when it is missing (Playwright's own download does not work here).
set -u
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium from Debian's packages…"
    # An earlier install cut short leaves dpkg half-configured, and apt-get refuses until it is finished.
    (DEBIAN_FRONTEND=noninteractive dpkg --configure -a \
      && apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji) >/dev/null 2>&1 \
      || echo "Could not install chromium; browser tests will say so."
  else
    echo "Chromium is missing and cannot be installed here (needs root and apt-get); browser tests will say so."
  fi
fi
if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules/axe-core ]; then
  (cd tests/browser && npm ci --silent --no-audit --no-fund) || echo "Could not install axe-core from npm."
fi
# The sign-in tests' OpenID provider (panva's oidc-provider), from its own lock file.
if [ -f tests/openid-provider/package.json ] && [ ! -f tests/openid-provider/node_modules/oidc-provider/package.json ]; then
  (cd tests/openid-provider && npm ci --silent --no-audit --no-fund) || echo "Could not install oidc-provider from npm."
fi
exit 0
