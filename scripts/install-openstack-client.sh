#!/bin/bash
# Installs the unmodified `openstack` command (python-openstackclient from PyPI) into a virtual
# environment of the project, for the tests that drive `xdpswitch server` with it
# (Tests/NeutronAPITests). Does nothing when the venv already has the pinned version.
#   scripts/install-openstack-client.sh [VENV]     (default: .venv-openstack beside Package.swift)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-$HERE/.venv-openstack}
VERSION=10.5.0
if [ -x "$VENV/bin/openstack" ] && "$VENV/bin/pip" show python-openstackclient 2>/dev/null | grep -qx "Version: $VERSION"; then
  exit 0
fi
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
  "$HERE/scripts/install-deps.sh" python3-venv
  PYTHON=/usr/bin/python3
fi
echo "install-openstack-client: python-openstackclient $VERSION into $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "python-openstackclient==$VERSION"
"$VENV/bin/openstack" --version
