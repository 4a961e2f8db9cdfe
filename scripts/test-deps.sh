#!/usr/bin/env bash
# Installs the Debian packages the test suite exercises for real, when they are missing:
# rsyslog, its TLS driver (rsyslog-gnutls) and RELP input (rsyslog-relp), the PAC engine libpacparser
# (python3-pacparser), the Prometheus text parser (python3-prometheus-client),
# docker-compose (to validate docker-compose.yml) and Chromium (driven headless through
# the PAC file) with NSS's certutil (libnss3-tools: its profile trusts the block-page CA), iproute2 and util-linux's unshare (network namespaces of the tests'
# own), iptables (the REDIRECT of transparent mode, inside those namespaces), curl
# (the client there) and radclient (freeradius-utils: a real RADIUS accounting client). The tests run their own private
# rsyslogd; the system syslog is never configured or started.
set -euo pipefail

need=()
[ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
compgen -G "/usr/lib/*/rsyslog/lmnsd_gtls.so" >/dev/null || need+=(rsyslog-gnutls)
compgen -G "/usr/lib/*/rsyslog/imrelp.so" >/dev/null || need+=(rsyslog-relp)
/usr/bin/python3 -c 'import pacparser' 2>/dev/null || need+=(python3-pacparser)
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || need+=(python3-prometheus-client)
command -v docker-compose >/dev/null || need+=(docker-compose)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v certutil >/dev/null || need+=(libnss3-tools)
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
command -v iptables >/dev/null || need+=(iptables)
command -v curl >/dev/null || need+=(curl)
command -v radclient >/dev/null || need+=(freeradius-utils)

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
