#!/usr/bin/env bash
# Installs the Debian packages the test suite exercises for real, when they are missing:
# rsyslog and its TLS driver (rsyslog-gnutls). The tests run their own private rsyslogd;
# the system syslog is never configured or started.
set -euo pipefail

need=()
[ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
compgen -G "/usr/lib/*/rsyslog/lmnsd_gtls.so" >/dev/null || need+=(rsyslog-gnutls)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing test dependencies: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
