/**
 * `automount.needed.observedWithin` reads observed use (TokenUsage), a fact CEL cannot read: the
 * export says so, and with whenUnknown Needed (the default) it enforces no automount removal,
 * as the engine keeps the token when the fact is unknown.
 */
import { exportPolicies } from '../../../src/export/export.js';
import { loadPolicies } from '../../../src/policy/load.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function policy(whenUnknown?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tg-observed-'));
  writeFileSync(
    join(dir, 'p.yaml'),
    `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata: {name: observed}
spec:
  mode: Enforce
  automount:
    action: DisableUnlessNeeded
    needed:
      observedWithin: 720h${whenUnknown ? `\n      whenUnknown: ${whenUnknown}` : ''}
`,
  );
  const r = loadPolicies([dir]);
  expect(r.errors).toEqual([]);
  return r.policies;
}

test('whenUnknown Needed (default): no automount object, and the export says why', () => {
  const [p] = exportPolicies(policy()).policies;
  expect(p?.notExported.some((n) => n.startsWith('automount: not enforced: needed.observedWithin'))).toBe(true);
  expect(p?.validating.some((o) => o.metadata.name.endsWith('-automount'))).toBe(false);
});

test('whenUnknown NotNeeded: the automount object removes the token, and the export says observed use is not seen', () => {
  const [p] = exportPolicies(policy('NotNeeded')).policies;
  expect(p?.notExported.some((n) => n.startsWith('automount: needed.observedWithin is not seen'))).toBe(true);
  expect(p?.validating.some((o) => o.metadata.name.endsWith('-automount'))).toBe(true);
});
