/**
 * Scenario 8: every patch tokenguard sent in scenarios 1-7 was accepted by the API server: no
 * `Internal error` (a JSONPatch that does not apply is a 500, whatever the failurePolicy), no
 * failed or failed-open webhook call, no error in tokenguard. Runs after 1-7 and before 9, which
 * stops tokenguard on purpose (the suite runs files in name order: sequencer.mjs).
 */
import { FROM_START, webhookHealth } from './health.js';

describe('scenario 8: the API server accepted every tokenguard answer', () => {
  test('no failed webhook call, no Internal error, no tokenguard error since the suite started', async () => {
    const report = await webhookHealth(FROM_START);
    process.stderr.write(
      `e2e scenario 8: API server calls ${JSON.stringify(report.calls)}; tokenguard decisions ${JSON.stringify(report.decisions)}\n`,
    );
    expect(report.problems).toEqual([]);
    // Evidence that there was something to check: patches were sent and applied.
    expect(report.decisions['mutate:patched'] ?? 0).toBeGreaterThanOrEqual(10);
    expect(report.decisions['validate:denied'] ?? 0).toBeGreaterThanOrEqual(2);
    expect(report.calls['mutate.tokenguard.dev code=200 rejected=false'] ?? 0).toBeGreaterThanOrEqual(10);
  });

  test('no pod creation of a controller failed on a webhook (FailedCreate events)', async () => {
    const { kubectlJson } = await import('./kube.js');
    const events = await kubectlJson<{
      items: { involvedObject: { namespace?: string; name?: string }; message?: string }[];
    }>(['get', 'events', '--all-namespaces', '--field-selector', 'reason=FailedCreate']);
    expect(events.items.map((e) => `${e.involvedObject.namespace}/${e.involvedObject.name}: ${e.message}`)).toEqual([]);
  });
});
