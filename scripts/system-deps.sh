#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when missing.
# Usage: scripts/system-deps.sh [test|demo]
set -euo pipefail
mode="${1:-test}"
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# WeasyPrint renders PDFs with Pango and subsets fonts with HarfBuzz (without libharfbuzz-subset0
# it warns at import, which the tests treat as an error); DejaVu is the documents' font.
for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
  have "$pkg" || need+=("$pkg")
done
if [ "$mode" = "test" ]; then
  # Dovecot for real IMAP, Chromium for browser tests, Poppler for PDF checks.
  for pkg in dovecot-imapd chromium poppler-utils; do have "$pkg" || need+=("$pkg"); done
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "Missing system packages: ${need[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Dovecot's packaged service is not wanted: the tests start their own instances on loopback.
if have dovecot-imapd; then
  (systemctl disable --now dovecot 2>/dev/null || service dovecot stop 2>/dev/null || pkill -x dovecot 2>/dev/null) || true
fi
