#!/usr/bin/env bash
# Builds versitygw, the S3-compatible object store the tests read object-store
# sources from (its posix backend keeps the objects in a directory), from the Go
# module proxy into bin/versitygw/<version>/. No prebuilt binaries can be
# downloaded here, so we compile it. Skips the build when the pinned version is
# already there.
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-1.8.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/bin/versitygw/${VERSITYGW_VERSION}"
STAMP="${DEST}/.versions"
WANT="versitygw=v${VERSITYGW_VERSION} go=$(go env GOVERSION)"

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" && -x "${DEST}/versitygw" ]]; then
  echo "object store ${WANT} already in ${DEST}"
  exit 0
fi

echo "building object store ${WANT} into ${DEST} (about 3 minutes the first time)"
mkdir -p "${DEST}"
# go install with a version builds in module mode, apart from this module's go.mod.
GOWORK=off CGO_ENABLED=0 GOBIN="${DEST}" \
  go install -trimpath -ldflags "-s -w" "github.com/versity/versitygw/cmd/versitygw@v${VERSITYGW_VERSION}"
echo "${WANT}" > "${STAMP}"
echo "object store ready: ${DEST}/versitygw"
