#!/usr/bin/env bash
# Installs Azurite, the Azure Storage emulator the azblob:// tests read blobs
# from, from the npm registry into bin/azurite/<version>/ (run on the machine's
# Node.js: Debian's nodejs and npm, which .ci/run installs when missing). Skips
# the install when the pinned version is already there.
set -euo pipefail

AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/bin/azurite/${AZURITE_VERSION}"
STAMP="${DEST}/.versions"
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "Azurite needs Node.js and npm: apt-get install -y nodejs npm" >&2
  exit 1
}
WANT="azurite=${AZURITE_VERSION} node=$(node --version)"

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" && -x "${DEST}/node_modules/.bin/azurite-blob" ]]; then
  echo "Azure emulator ${WANT} already in ${DEST}"
  exit 0
fi

echo "installing Azure emulator ${WANT} into ${DEST}"
mkdir -p "${DEST}"
npm install --prefix "${DEST}" --no-audit --no-fund --no-save --loglevel=error "azurite@${AZURITE_VERSION}"
echo "${WANT}" > "${STAMP}"
echo "Azure emulator ready: ${DEST}/node_modules/.bin/azurite-blob"
