import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RULE_DESCRIPTIONS } from '../../../src/engine/messages.js';
import { RULE_IDS } from '../../../src/engine/types.js';
import { REPO } from '../../helpers/fixtures.js';

/** Every `rule: '...'` the engine's sources return. */
function ruleIdsInEngine(): string[] {
  const ids = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/\brule: '([a-z-]+)'/g)) ids.add(m[1] as string);
    }
  };
  walk(join(REPO, 'src', 'engine'));
  return [...ids].sort();
}

test('every rule the engine returns is a registered rule id', () => {
  const found = ruleIdsInEngine();
  expect(found.length).toBeGreaterThanOrEqual(5);
  expect(found.filter((id) => !(RULE_IDS as readonly string[]).includes(id))).toEqual([]);
});

test.each(RULE_IDS.map((id) => [id]))('rule %s has a summary, a description and help', (id) => {
  const d = RULE_DESCRIPTIONS[id];
  expect(d.summary.length).toBeGreaterThan(10);
  expect(d.description.length).toBeGreaterThan(40);
  expect(d.help.length).toBeGreaterThan(20);
});

test('docs/rules.md has a section per rule id, with its description', () => {
  const doc = readFileSync(join(REPO, 'docs', 'rules.md'), 'utf8');
  const headings = [...doc.matchAll(/^## ([a-z-]+)$/gm)].map((m) => m[1]);
  expect(headings.sort()).toEqual([...RULE_IDS].sort());
  for (const id of RULE_IDS) expect(doc).toContain(RULE_DESCRIPTIONS[id].description);
});
