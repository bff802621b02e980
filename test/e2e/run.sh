#!/usr/bin/env bash
# The e2e suite: tokenguard behind a real kube-apiserver on loopback (`npm run test:e2e`).
#
#   1. test/e2e/get-binaries.sh: etcd, kube-apiserver, kube-controller-manager (built once from
#      Go modules and cached; a cached run takes under a second);
#   2. npm run build (the suite runs dist/cli/main.js, the real CLI);
#   3. jest on test/e2e/*.e2e.test.ts, in file order, one control plane and one tokenguard for
#      all of them (suite-setup.ts / suite-teardown.ts).
#
# Extra arguments go to jest, e.g. `npm run test:e2e -- -t 'legacy'` or a file pattern.
# Environment: TOKENGUARD_E2E_KEEP=1 keeps the work dir (logs) after a green run;
# TOKENGUARD_E2E_WORKDIR sets where run folders go (default .e2e-work/ in the repository);
# KUBECTL overrides the kubectl binary; the knobs of get-binaries.sh apply too.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
cd "${root}"
started=$(date +%s)

command -v "${KUBECTL:-kubectl}" >/dev/null 2>&1 \
  || { echo "e2e: kubectl not found (install it or set KUBECTL=/path/to/kubectl)" >&2; exit 1; }

# get-binaries.sh prints progress on stderr and its bin dir as the last stdout line. Its failure
# line goes to a file (TOKENGUARD_E2E_ERROR_FILE) and is printed here, once, as the one line
# this suite promises.
bin_err="$(mktemp)"
trap 'rm -f "${bin_err}"' EXIT
t0=$(date +%s)
if ! bin_out="$(TOKENGUARD_E2E_ERROR_FILE="${bin_err}" bash "${here}/get-binaries.sh")"; then
  cause="$(tail -n 1 "${bin_err}")"
  echo "e2e: cannot build kube-apiserver: ${cause:-get-binaries.sh failed without a message}" >&2
  exit 1
fi
bin_dir="$(printf '%s\n' "${bin_out}" | tail -n 1)"
if [[ ! -x "${bin_dir}/kube-apiserver" ]]; then
  echo "e2e: cannot build kube-apiserver: get-binaries.sh did not name a folder holding it (got '${bin_dir}')" >&2
  exit 1
fi
echo "e2e: binaries in ${bin_dir} ($(( $(date +%s) - t0 )) s)" >&2

npm run --silent build

export TOKENGUARD_E2E_BIN_DIR="${bin_dir}"
status=0
# "$@" comes first: --roots and --reporters take several values and would swallow a file pattern.
node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js "$@" \
  --roots test/e2e \
  --testPathIgnorePatterns /node_modules/ \
  --testMatch '**/*.e2e.test.ts' \
  --runInBand \
  --testTimeout 180000 \
  --globalSetup ./test/e2e/global-setup.mjs \
  --globalTeardown ./test/e2e/global-teardown.mjs \
  --testSequencer ./test/e2e/sequencer.mjs \
  --reporters default --reporters ./test/e2e/reporter.mjs \
  || status=$?
echo "e2e: npm run test:e2e took $(( $(date +%s) - started )) s in total (exit ${status})" >&2
exit "${status}"
