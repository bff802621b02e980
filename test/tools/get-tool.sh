#!/usr/bin/env bash
# Builds (once) and caches a Go command-line tool the tests run, from the Go module proxy only
# (no release downloads), like test/e2e/get-binaries.sh does for the control plane:
#
#   helm        helm.sh/helm/v4/cmd/helm                    the chart tests (lint, template, install)
#   helm3       helm.sh/helm/v3/cmd/helm                    the chart's lint and template tests on Helm 3
#   actionlint  github.com/rhysd/actionlint/cmd/actionlint  the GitHub Actions workflows
#   kustomize   sigs.k8s.io/kustomize/kustomize/v5          `kustomize edit set image` as documented
#
# Usage: test/tools/get-tool.sh NAME
# The binary lives outside the repository, in
#   ${TOKENGUARD_TOOLS_CACHE:-$HOME/.cache}/tokenguard-NAME/<version>/NAME
# and the last line on stdout is its path. A cached run only checks the binary and returns in
# well under a second. The build runs under `nice` (the machine is shared with the test suites).
#
# Versions are pinned here; override one with TOKENGUARD_HELM_VERSION, TOKENGUARD_HELM3_VERSION,
# TOKENGUARD_ACTIONLINT_VERSION or TOKENGUARD_KUSTOMIZE_VERSION. GO sets the go binary (default: `go` on PATH, else
# /usr/local/go/bin/go). On failure: one line `tools: building NAME VERSION failed: <cause>` on
# stderr, exit 1.
set -euo pipefail

HELM_VERSION="${TOKENGUARD_HELM_VERSION:-v4.3.2}"
HELM3_VERSION="${TOKENGUARD_HELM3_VERSION:-v3.21.4}"
ACTIONLINT_VERSION="${TOKENGUARD_ACTIONLINT_VERSION:-v1.7.12}"
KUSTOMIZE_VERSION="${TOKENGUARD_KUSTOMIZE_VERSION:-v5.5.0}"

log() { printf 'tools: %s\n' "$*" >&2; }
die() { printf 'tools: %s\n' "$*" >&2; exit 1; }

name="${1:-}"
binary="${name}"
case "${name}" in
  helm)
    version="${HELM_VERSION}"
    package="helm.sh/helm/v4/cmd/helm"
    # What `helm version` reports; the module build alone says only "v4.3".
    ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=${version}"
    check() { "$1" version --template '{{.Version}}' 2>/dev/null; }
    ;;
  helm3)
    version="${HELM3_VERSION}"
    package="helm.sh/helm/v3/cmd/helm"
    binary=helm
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${version}"
    check() { "$1" version --template '{{.Version}}' 2>/dev/null; }
    ;;
  actionlint)
    version="${ACTIONLINT_VERSION}"
    package="github.com/rhysd/actionlint/cmd/actionlint"
    ldflags="-s -w -X github.com/rhysd/actionlint.version=${version}"
    check() { "$1" -version 2>/dev/null | head -n 1; }
    ;;
  kustomize)
    version="${KUSTOMIZE_VERSION}"
    package="sigs.k8s.io/kustomize/kustomize/v5"
    ldflags="-s -w -X sigs.k8s.io/kustomize/api/provenance.version=${version}"
    check() { "$1" version 2>/dev/null | head -n 1; }
    ;;
  *) die "usage: get-tool.sh helm|helm3|actionlint|kustomize (got '${name}')" ;;
esac

cache_root="${TOKENGUARD_TOOLS_CACHE:-${HOME:?set HOME or TOKENGUARD_TOOLS_CACHE}/.cache}"
dir="${cache_root}/tokenguard-${name}/${version}"
bin="${dir}/${name}"
stamp="${dir}/BUILT"

cached_ok() {
  [[ -x "${bin}" && -f "${stamp}" ]] || return 1
  local out
  out="$(check "${bin}")" || return 1
  [[ "${out}" == *"${version}"* ]]
}

if cached_ok; then
  printf '%s\n' "${bin}"
  exit 0
fi

GO="${GO:-$(command -v go || true)}"
[[ -n "${GO}" ]] || GO=/usr/local/go/bin/go
[[ -x "${GO}" ]] || die "building ${name} ${version} failed: go toolchain not found (install Go or set GO=/path/to/go)"

mkdir -p "${dir}"
# Serialise concurrent runs on the same tool and version.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${dir}/.lock"
  flock 9
  if cached_ok; then
    printf '%s\n' "${bin}"
    exit 0
  fi
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GO111MODULE=on GOWORK=off
export GOFLAGS="-trimpath -buildvcs=false"
export GOMAXPROCS="${GOMAXPROCS:-2}"
build_log="${dir}/build.log"
: >"${build_log}"
if [[ "${name}" == helm3 ]]; then
  # Helm 3 takes its default Kubernetes version (for `helm template` and lint) from ldflags, as
  # its Makefile sets them from the client-go version its go.mod requires.
  mod_dir="$("${GO}" mod download -json "helm.sh/helm/v3@${version}" 2>>"${build_log}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  client_go="$(sed -n 's#^[[:space:]]*k8s\.io/client-go v0\.\([0-9]*\)\..*#\1#p' "${mod_dir}/go.mod" 2>/dev/null | head -n 1)"
  [[ -n "${client_go}" ]] || die "building ${name} ${version} failed: no k8s.io/client-go version in its go.mod (see ${build_log})"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${client_go}"
  done
fi
log "building ${name} ${version} from the Go module proxy (${package}; log: ${build_log})"
t0=$(date +%s)
rm -f "${stamp}"
tmpbin="$(mktemp -d "${dir}/.gobin.XXXXXX")"
if ! GOBIN="${tmpbin}" nice -n 10 "${GO}" install -ldflags="${ldflags}" "${package}@${version}" >>"${build_log}" 2>&1; then
  rm -rf "${tmpbin}"
  die "building ${name} ${version} failed: $(grep -v '^go: downloading' "${build_log}" | tail -n 3 | tr '\n' ' ')"
fi
mv -f "${tmpbin}/${binary}" "${bin}"
rm -rf "${tmpbin}"
cached_ok_version="$(check "${bin}" || true)"
[[ "${cached_ok_version}" == *"${version}"* ]] \
  || die "building ${name} ${version} failed: the binary reports '${cached_ok_version}'"
printf '%s %s %s\n' "${version}" "$("${GO}" env GOVERSION)" "$(( $(date +%s) - t0 ))s" >"${stamp}"
log "${name} ${version} built in $(( $(date +%s) - t0 )) s: ${bin}"
printf '%s\n' "${bin}"
