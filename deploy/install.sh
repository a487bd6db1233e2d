#!/bin/sh
# Install the Qiyas agent on Raspberry Pi OS / Debian as a hardened systemd service.
#
#   sudo deploy/install.sh [SOURCE_DIR]     # default: the checkout this script is in
#
# Idempotent: run it again to upgrade. It does not provision the probe: after it, run
#   sudo qiyas provision --owner qiyas …   then   sudo qiyas doctor -c /etc/qiyas/agent.toml
# and start the service (the script says how). See docs/technician.md.
set -eu

SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd)
PREFIX=/opt/qiyas
UNIT=/etc/systemd/system/qiyas-agent.service

say() { printf 'qiyas-install: %s\n' "$*"; }
die() { printf 'qiyas-install: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
command -v apt-get >/dev/null || die "this script is for Debian / Raspberry Pi OS (apt-get not found)"
[ -f "$SRC/pyproject.toml" ] || die "$SRC is not a Qiyas checkout (no pyproject.toml)"

say "installing Python and the build tools it needs"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null

if ! id qiyas >/dev/null 2>&1; then
    say "creating the system user qiyas (member of dialout for the modem's AT port)"
    useradd --system --no-create-home --home-dir /var/lib/qiyas \
        --shell /usr/sbin/nologin --groups dialout qiyas
fi

say "installing the agent into $PREFIX/venv"
python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
# The board set only (pyproject.toml base dependencies): no collector, API or archive packages.
"$PREFIX/venv/bin/pip" install --quiet "$SRC"
ln -sf "$PREFIX/venv/bin/qiyas" /usr/local/bin/qiyas

install -d -m 0755 /etc/qiyas "$PREFIX/docs"
install -m 0644 "$SRC/docs/technician.md" "$SRC/docs/household.md" "$PREFIX/docs/"
install -d -m 0700 -o qiyas -g qiyas /var/lib/qiyas
install -m 0644 "$SRC/deploy/qiyas-agent.service" "$UNIT"
[ -f /etc/default/qiyas ] || printf 'QIYAS_LOG_LEVEL=info\n' > /etc/default/qiyas
systemctl daemon-reload

if [ -f /etc/qiyas/agent.toml ]; then
    systemctl enable qiyas-agent.service
    systemctl restart qiyas-agent.service
    say "agent (re)started; follow it with: journalctl -u qiyas-agent -f"
else
    say "installed. Next:"
    say "  sudo qiyas provision --board BOARD --owner qiyas --config /etc/qiyas/agent.toml"
    say "  sudo qiyas doctor -c /etc/qiyas/agent.toml"
    say "  sudo systemctl enable --now qiyas-agent"
fi
