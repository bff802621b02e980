#!/usr/bin/env bash
# Builds (once) and caches the real control-plane binaries the e2e harness runs:
#   kube-apiserver, kube-controller-manager  from the k8s.io/kubernetes Go module
#   etcd                                     from the go.etcd.io/etcd/server/v3 Go module
#
# Only the Go module proxy is needed (no release downloads, no Docker).
# The result lives outside the repository, in
#   ${TOKENGUARD_E2E_CACHE:-$HOME/.cache/tokenguard-e2e}/<k8s-version>/bin
# and a second run only checks the binaries (`--version`) and returns in seconds.
#
# Environment knobs:
#   TOKENGUARD_K8S_VERSION   Kubernetes release to build (default v1.34.4)
#   TOKENGUARD_ETCD_VERSION  etcd release (default: the one named by that release's
#                            build/dependencies.yaml, e.g. v3.6.5 for v1.34.4)
#   TOKENGUARD_E2E_CACHE     cache root (default $HOME/.cache/tokenguard-e2e)
#   GO                       go binary (default: `go` on PATH, else /usr/local/go/bin/go)
#
# Progress goes to stderr; the last line on stdout is the bin directory.
# On failure a single line `e2e: <what> failed: <cause>` is printed on stderr, exit 1
# (or written, without the `e2e: ` prefix, to $TOKENGUARD_E2E_ERROR_FILE when that is set).
set -euo pipefail

K8S_VERSION="${TOKENGUARD_K8S_VERSION:-v1.34.4}"
CACHE_ROOT="${TOKENGUARD_E2E_CACHE:-${HOME:?set HOME or TOKENGUARD_E2E_CACHE}/.cache/tokenguard-e2e}"
VDIR="${CACHE_ROOT}/${K8S_VERSION}"
BIN="${VDIR}/bin"
SRC="${VDIR}/src"
LOGS="${VDIR}/logs"
STAMP="${BIN}/VERSIONS"

log() { printf 'e2e: %s\n' "$*" >&2; }
# With TOKENGUARD_E2E_ERROR_FILE set (run.sh does), the failure line goes to that file instead,
# so the caller can print it once in its own words.
die() {
  if [[ -n "${TOKENGUARD_E2E_ERROR_FILE:-}" ]]; then printf '%s\n' "$*" >"${TOKENGUARD_E2E_ERROR_FILE}"
  else printf 'e2e: %s\n' "$*" >&2; fi
  exit 1
}

# The last error of a go log, on one line: the last unindented line plus the indented
# continuation lines that follow it (skips blank lines, "exit status N", "go: downloading").
# For `go mod download -json` output, the "Error" field.
last_error() {
  local f="$1" line
  line="$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' "${f}" 2>/dev/null | tail -n 1 | sed 's/\\[nt]/ /g')"
  if [[ -z "${line}" ]]; then
    line="$(awk '
      /^[[:space:]]*$/ || /^exit status [0-9]+$/ || /^go: downloading / { next }
      /^[ \t]/ { if (cur != "") { sub(/^[ \t]+/, ""); cur = cur " " $0 }; next }
      { cur = $0 }
      END { print cur }' "${f}" 2>/dev/null || true)"
  fi
  printf '%s' "${line:-see ${f}}"
}

case "${K8S_VERSION}" in
  v1.[0-9]*.[0-9]*) ;;
  *) die "invalid TOKENGUARD_K8S_VERSION '${K8S_VERSION}' (want vMAJOR.MINOR.PATCH, e.g. v1.34.4)" ;;
esac
K8S_MINOR="${K8S_VERSION#v1.}"; K8S_MINOR="${K8S_MINOR%%.*}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"   # k8s.io/api etc. are published as v0.Y.Z for v1.Y.Z

# ---------------------------------------------------------------- fast path
# True when all three binaries exist, run, and report the expected versions.
binaries_ok() {
  local etcd_v="$1" out
  for b in etcd kube-apiserver kube-controller-manager; do
    [[ -x "${BIN}/${b}" ]] || return 1
  done
  out="$("${BIN}/kube-apiserver" --version 2>/dev/null)" || return 1
  [[ "${out}" == "Kubernetes ${K8S_VERSION}" ]] || return 1
  out="$("${BIN}/kube-controller-manager" --version 2>/dev/null)" || return 1
  [[ "${out}" == "Kubernetes ${K8S_VERSION}" ]] || return 1
  out="$("${BIN}/etcd" --version 2>/dev/null)" || return 1
  [[ -z "${etcd_v}" || "${out}" == *"etcd Version: ${etcd_v#v}"* ]] || return 1
  return 0
}

stamped_etcd_version() {
  if [[ -f "${STAMP}" ]]; then sed -n 's/^etcd=//p' "${STAMP}" | head -n 1; fi
}

want_etcd="${TOKENGUARD_ETCD_VERSION:-$(stamped_etcd_version)}"
if [[ -f "${STAMP}" ]] && binaries_ok "${want_etcd}"; then
  log "using cached binaries (kubernetes ${K8S_VERSION}, etcd $(stamped_etcd_version))"
  printf '%s\n' "${BIN}"
  exit 0
fi

# ---------------------------------------------------------------- toolchain
GO="${GO:-$(command -v go || true)}"
[[ -n "${GO}" ]] || GO=/usr/local/go/bin/go
[[ -x "${GO}" ]] || die "go toolchain not found (install Go >= 1.24 or set GO=/path/to/go)"

mkdir -p "${VDIR}" "${SRC}" "${LOGS}" "${BIN}"

# Serialise concurrent runs (parallel test workers) on the same version.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${VDIR}/.lock"
  flock 9
  # Another run may have finished the build while we waited.
  want_etcd="${TOKENGUARD_ETCD_VERSION:-$(stamped_etcd_version)}"
  if [[ -f "${STAMP}" ]] && binaries_ok "${want_etcd}"; then
    log "using cached binaries (kubernetes ${K8S_VERSION}, etcd $(stamped_etcd_version))"
    printf '%s\n' "${BIN}"
    exit 0
  fi
fi

export GOTOOLCHAIN=local          # never fetch another toolchain
export CGO_ENABLED=0              # static binaries, like the official release builds
export GOMAXPROCS="${GOMAXPROCS:-2}"
export GOFLAGS="-trimpath -buildvcs=false -mod=mod"
export GO111MODULE=on
export GOWORK=off
BUILD_P="${TOKENGUARD_BUILD_PARALLELISM:-${GOMAXPROCS}}"

start_all=$(date +%s)

# ---------------------------------------------------------------- k8s.io/kubernetes metadata
log "resolving k8s.io/kubernetes@${K8S_VERSION} from the Go module proxy"
dl_log="${LOGS}/download-kubernetes.log"
if ! (cd "${SRC}" && "${GO}" mod download -json "k8s.io/kubernetes@${K8S_VERSION}") >"${dl_log}" 2>&1; then
  die "downloading k8s.io/kubernetes ${K8S_VERSION} failed: $(last_error "${dl_log}")"
fi
K8S_DIR="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "${dl_log}" | head -n 1)"
K8S_INFO="$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p' "${dl_log}" | head -n 1)"
[[ -n "${K8S_DIR}" && -f "${K8S_DIR}/go.mod" ]] \
  || die "downloading k8s.io/kubernetes ${K8S_VERSION} failed: no module directory in 'go mod download' output"

# Staging modules: every `k8s.io/xxx => ./staging/src/k8s.io/xxx` line of its go.mod.
mapfile -t STAGING < <(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\1#p' "${K8S_DIR}/go.mod" | sort -u)
(( ${#STAGING[@]} > 0 )) || die "reading staging modules of k8s.io/kubernetes ${K8S_VERSION} failed: no './staging/' replace lines in go.mod"

# The go directive and godebug default of kubernetes' own go.mod (runtime behaviour defaults).
K8S_GO_DIRECTIVE="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "${K8S_DIR}/go.mod" | head -n 1)"
K8S_GODEBUG="$(sed -n 's/^godebug \(.*\)$/\1/p' "${K8S_DIR}/go.mod" | head -n 1)"

# etcd: the server version this release names in build/dependencies.yaml.
if [[ -n "${TOKENGUARD_ETCD_VERSION:-}" ]]; then
  ETCD_VERSION="${TOKENGUARD_ETCD_VERSION}"
else
  ETCD_VERSION="$(awk '/name: "etcd"$/ {f=1; next} f && /version:/ {print $2; exit}' "${K8S_DIR}/build/dependencies.yaml" 2>/dev/null || true)"
  if [[ -z "${ETCD_VERSION}" ]]; then
    # Fall back to the etcd server library version in go.mod.
    ETCD_VERSION="$(sed -n 's#^[[:space:]]*go\.etcd\.io/etcd/server/v3 \(v[0-9.]*\).*#\1#p' "${K8S_DIR}/go.mod" | head -n 1)"
  fi
  [[ -n "${ETCD_VERSION}" ]] || die "finding the etcd version of kubernetes ${K8S_VERSION} failed: not in build/dependencies.yaml nor go.mod"
fi
ETCD_VERSION="v${ETCD_VERSION#v}"
log "kubernetes ${K8S_VERSION} (staging modules ${STAGING_VERSION}, ${#STAGING[@]} of them), etcd ${ETCD_VERSION}, go $("${GO}" env GOVERSION), GOMAXPROCS=${GOMAXPROCS}"

# Build date for the version ldflags: the release's publication time (reproducible).
BUILD_DATE="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${K8S_INFO}" 2>/dev/null | head -n 1)"
BUILD_DATE="${BUILD_DATE:-1970-01-01T00:00:00Z}"

# ---------------------------------------------------------------- kubernetes wrapper module
KSRC="${SRC}/kubernetes"
mkdir -p "${KSRC}"
{
  echo "// Generated by test/e2e/get-binaries.sh: a wrapper module to build k8s.io/kubernetes commands."
  echo "module tokenguard.local/e2e/kubernetes"
  echo
  echo "go ${K8S_GO_DIRECTIVE:-1.24.0}"
  if [[ -n "${K8S_GODEBUG}" ]]; then echo; echo "godebug ${K8S_GODEBUG}"; fi
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  echo "replace ("
  for m in "${STAGING[@]}"; do
    echo "	${m} => ${m} ${STAGING_VERSION}"
  done
  echo ")"
} >"${KSRC}/go.mod.new"
cat >"${KSRC}/tools.go" <<'EOF'
//go:build tools

// Package tools pins the commands this wrapper module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
EOF
# Re-tidy only when the requested versions changed (tidy rewrites go.mod).
if ! cmp -s "${KSRC}/go.mod.new" "${KSRC}/go.mod.in" 2>/dev/null || [[ ! -f "${KSRC}/go.sum" ]]; then
  cp "${KSRC}/go.mod.new" "${KSRC}/go.mod"
  rm -f "${KSRC}/go.sum"
  log "resolving kubernetes dependencies (go mod tidy)"
  t0=$(date +%s)
  if ! (cd "${KSRC}" && "${GO}" mod tidy) >"${LOGS}/tidy-kubernetes.log" 2>&1; then
    die "resolving dependencies of k8s.io/kubernetes ${K8S_VERSION} failed: $(last_error "${LOGS}/tidy-kubernetes.log")"
  fi
  cp "${KSRC}/go.mod.new" "${KSRC}/go.mod.in"
  log "  done in $(( $(date +%s) - t0 ))s"
fi
rm -f "${KSRC}/go.mod.new"

KLDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KLDFLAGS+=" -X ${pkg}.gitVersion=${K8S_VERSION}"
  KLDFLAGS+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${K8S_MINOR}"
  KLDFLAGS+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${BUILD_DATE}"
done

build_k8s() {
  local name="$1" t0 blog="${LOGS}/build-$1.log"
  log "building ${name} ${K8S_VERSION} (log: ${blog})"
  t0=$(date +%s)
  if ! (cd "${KSRC}" && "${GO}" build -p "${BUILD_P}" -ldflags="${KLDFLAGS}" \
          -o "${BIN}/.${name}.tmp" "k8s.io/kubernetes/cmd/${name}") >"${blog}" 2>&1; then
    rm -f "${BIN}/.${name}.tmp"
    die "building ${name} ${K8S_VERSION} failed: $(last_error "${blog}")"
  fi
  mv -f "${BIN}/.${name}.tmp" "${BIN}/${name}"
  log "  ${name} built in $(( $(date +%s) - t0 ))s"
}

# ---------------------------------------------------------------- etcd wrapper module
ESRC="${SRC}/etcd"
mkdir -p "${ESRC}"
{
  echo "// Generated by test/e2e/get-binaries.sh: a wrapper module to build the etcd server."
  echo "module tokenguard.local/e2e/etcd"
  echo
  echo "go 1.24"
  echo
  echo "require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
} >"${ESRC}/go.mod.new"
# The etcd binary's main package is the root of the go.etcd.io/etcd/server/v3 module
# (server/main.go calls etcdmain.Main); its go.mod has local replaces, so
# `go install ...@version` refuses it, hence this wrapper.
cat >"${ESRC}/tools.go" <<'EOF'
//go:build tools

// Package tools pins the command this wrapper module builds.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
EOF
if ! cmp -s "${ESRC}/go.mod.new" "${ESRC}/go.mod.in" 2>/dev/null || [[ ! -f "${ESRC}/go.sum" ]]; then
  cp "${ESRC}/go.mod.new" "${ESRC}/go.mod"
  rm -f "${ESRC}/go.sum"
  log "resolving etcd dependencies (go mod tidy)"
  if ! (cd "${ESRC}" && "${GO}" mod tidy) >"${LOGS}/tidy-etcd.log" 2>&1; then
    die "resolving dependencies of etcd ${ETCD_VERSION} failed: $(last_error "${LOGS}/tidy-etcd.log")"
  fi
  cp "${ESRC}/go.mod.new" "${ESRC}/go.mod.in"
fi
rm -f "${ESRC}/go.mod.new"

build_etcd() {
  local t0 blog="${LOGS}/build-etcd.log"
  log "building etcd ${ETCD_VERSION} (log: ${blog})"
  t0=$(date +%s)
  if ! (cd "${ESRC}" && "${GO}" build -p "${BUILD_P}" -ldflags="-s -w" \
          -o "${BIN}/.etcd.tmp" "go.etcd.io/etcd/server/v3") >"${blog}" 2>&1; then
    rm -f "${BIN}/.etcd.tmp"
    die "building etcd ${ETCD_VERSION} failed: $(last_error "${blog}")"
  fi
  mv -f "${BIN}/.etcd.tmp" "${BIN}/etcd"
  log "  etcd built in $(( $(date +%s) - t0 ))s"
}

# ---------------------------------------------------------------- build what is missing or stale
rm -f "${STAMP}"
out="$("${BIN}/etcd" --version 2>/dev/null || true)"
[[ "${out}" == *"etcd Version: ${ETCD_VERSION#v}"* ]] || build_etcd
for name in kube-apiserver kube-controller-manager; do
  out="$("${BIN}/${name}" --version 2>/dev/null || true)"
  [[ "${out}" == "Kubernetes ${K8S_VERSION}" ]] || build_k8s "${name}"
done

binaries_ok "${ETCD_VERSION}" \
  || die "checking the built binaries failed: '${BIN}/<binary> --version' does not report kubernetes ${K8S_VERSION} / etcd ${ETCD_VERSION}"

printf 'kubernetes=%s\netcd=%s\ngo=%s\n' "${K8S_VERSION}" "${ETCD_VERSION}" "$("${GO}" env GOVERSION)" >"${STAMP}"
log "binaries ready in $(( $(date +%s) - start_all ))s: ${BIN}"
printf '%s\n' "${BIN}"
