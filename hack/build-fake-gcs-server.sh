#!/usr/bin/env bash
# Builds fake-gcs-server, the Google Cloud Storage emulator the gs:// tests read
# objects from (its memory backend keeps them in the process), from the Go
# module proxy into bin/fake-gcs-server/<version>/. No prebuilt binaries can be
# downloaded here, so we compile it. Skips the build when the pinned version is
# already there.
set -euo pipefail

FAKE_GCS_VERSION="${FAKE_GCS_VERSION:-1.56.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/bin/fake-gcs-server/${FAKE_GCS_VERSION}"
STAMP="${DEST}/.versions"
WANT="fake-gcs-server=v${FAKE_GCS_VERSION} go=$(go env GOVERSION)"

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" && -x "${DEST}/fake-gcs-server" ]]; then
  echo "GCS emulator ${WANT} already in ${DEST}"
  exit 0
fi

echo "building GCS emulator ${WANT} into ${DEST} (about 2 minutes the first time)"
mkdir -p "${DEST}"
# go install with a version builds in module mode, apart from this module's go.mod.
GOWORK=off CGO_ENABLED=0 GOBIN="${DEST}" \
  go install -trimpath -ldflags "-s -w" "github.com/fsouza/fake-gcs-server@v${FAKE_GCS_VERSION}"
echo "${WANT}" > "${STAMP}"
echo "GCS emulator ready: ${DEST}/fake-gcs-server"
