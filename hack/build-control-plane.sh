#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kubectl, etcd) from the Go module
# proxy into bin/k8s/<kube version>/, the layout envtest reads through
# KUBEBUILDER_ASSETS. No prebuilt binaries can be downloaded here, so we compile them.
# Skips the build when the pinned versions are already there.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/bin/k8s/${KUBE_VERSION}"
STAMP="${DEST}/.versions"
WANT="kubernetes=v${KUBE_VERSION} etcd=v${ETCD_VERSION} go=$(go env GOVERSION)"

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" ]] \
  && [[ -x "${DEST}/kube-apiserver" && -x "${DEST}/kubectl" && -x "${DEST}/etcd" ]]; then
  echo "control plane ${WANT} already in ${DEST}"
  exit 0
fi

echo "building control plane ${WANT} into ${DEST} (about 5 minutes the first time)"
mkdir -p "${DEST}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

# k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with local
# directories, which a dependent module cannot see. A throw-away module replaces
# each of them with the published module of the same minor version (v1.37.2 -> v0.37.2).
build_kubernetes() {
  local dir="${WORK}/kubernetes"
  mkdir -p "${dir}" && cd "${dir}"
  go mod init localytics.dev/build/kubernetes >/dev/null 2>&1
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@v${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  local staging
  staging="$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "${gomod}" | awk '{print $1}' | sort -u)"
  [[ -n "${staging}" ]] || { echo "no staging replaces found in ${gomod}" >&2; exit 1; }
  local args=()
  for m in ${staging}; do args+=("-replace=${m}=${m}@v0.${KUBE_VERSION#1.}"); done
  go mod edit "${args[@]}"
  go mod edit -require="k8s.io/kubernetes@v${KUBE_VERSION}"
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy >/dev/null
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v${KUBE_VERSION} -X k8s.io/client-go/pkg/version.gitVersion=v${KUBE_VERSION}" \
    -o "${DEST}/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local dir="${WORK}/etcd"
  mkdir -p "${dir}" && cd "${dir}"
  go mod init localytics.dev/build/etcd >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@v${ETCD_VERSION}"
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go mod tidy >/dev/null
  go build -trimpath -ldflags "-s -w" -o "${DEST}/etcd" go.etcd.io/etcd/server/v3
}

build_etcd
build_kubernetes
echo "${WANT}" > "${STAMP}"
echo "control plane ready in ${DEST}"
