#!/usr/bin/env bash
# Installs what the full test suite needs on a fresh Debian machine, then the npm packages.
#   Debian: chromium (dashboard browser tests), etcd-server (etcd store tests),
#           prometheus (promtool rule tests), openssl (TLS listener tests),
#           nginx and haproxy (proxy chains and side-by-side fault tests),
#           systemd (systemd-analyze verify of deploy/fulcrum.service; systemd need not run).
# Runs apt-get only for what is missing; needs root or sudo for that.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)

if ((${#need[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The project pins its own Node 24 (the `node` devDependency); npm scripts run on it.
npm ci --no-audit --no-fund
