#!/usr/bin/env bash
# The proxy tests run Debian's nginx unprivileged on loopback; install it when it is missing.
set -u
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing nginx from Debian's packages…"
    (DEBIAN_FRONTEND=noninteractive dpkg --configure -a \
      && apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) >/dev/null 2>&1 \
      || echo "Could not install nginx; the proxy tests will say so."
  else
    echo "nginx is missing and cannot be installed here (needs root and apt-get); the proxy tests will say so."
  fi
fi
exit 0
