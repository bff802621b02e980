/**
 * Jest reporter of the e2e suite: when a test fails, prints the last lines of the API server,
 * controller-manager and tokenguard logs and of the kubectl transcript, and marks the run failed
 * in the state file so the teardown keeps the work dir. Also prints the scenario count and time.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

function tail(file, lines) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(cannot read ${file}: ${e.code ?? e.message})`;
  }
}

export default class E2EReporter {
  onRunComplete(_contexts, results) {
    const statePath = process.env.TOKENGUARD_E2E_STATE;
    const failed =
      results.numFailedTests > 0 || results.numRuntimeErrorTestSuites > 0 || results.numFailedTestSuites > 0;
    const seconds = ((Date.now() - results.startTime) / 1000).toFixed(1);
    process.stderr.write(
      `\ne2e: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests} skipped ` +
        `in ${results.numTotalTestSuites} scenario files (${seconds} s of tests)\n`,
    );
    if (!failed || !statePath) return;
    let state;
    try {
      state = JSON.parse(readFileSync(statePath, 'utf8'));
    } catch {
      return;
    }
    const sections = [
      ['kube-apiserver', state.logs.apiserver, 40],
      ['kube-controller-manager', state.logs.controllerManager, 20],
      ['tokenguard', state.serve.log, 40],
      ['kubectl transcript', state.logs.transcript, 20],
    ];
    for (const [name, file, lines] of sections)
      process.stderr.write(`\n--- last ${lines} lines of ${name} (${file}):\n${tail(file, lines)}\n`);
    state.failed = true;
    const tmp = `${statePath}.reporter.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, statePath);
  }
}
