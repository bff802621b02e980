/**
 * A canary value placed where a Secret value or a token could be (manifests, policy and facts
 * files, an AdmissionReview, a token argument, a kubeconfig), inside constructs whose parser
 * messages quote it, must not come out of any command in any output format: standard output,
 * standard error, or a process warning.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { main } from '../../src/cli/main.js';
import { loadKubeConfig } from '../../src/kube/config.js';
import { REPO } from '../helpers/fixtures.js';

const CANARY = 'CANARYc4n4ry5ecretVALUE';

/** YAML whose parser messages (errors or warnings) quote the value at CANARY. */
const HOSTILE_YAML: Record<string, string> = {
  'alias.yaml': `apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\nstringData:\n  password: *${CANARY}\n`,
  'alias-later.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata:\n  x: &a 1\n  token: *${CANARY}x\n`,
  'tag.yaml': `apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\nstringData:\n  password: !${CANARY} hidden\n`,
  'collection-key.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata:\n  ? [${CANARY}]\n  : x\n`,
  'omap.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata: !!omap [${CANARY}: 1, ${CANARY}: 2]\n`,
  'block-header.yaml': `apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\nstringData:\n  key: |${CANARY}\n    x\n`,
  'directive.yaml': `%YAML ${CANARY}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n`,
  'unknown-directive.yaml': `%${CANARY} x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n`,
  'flow.json': `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"p": "x" ${CANARY}}}\n`,
};

/** Every message and warning the yaml package gives for a text, as it gives them. */
function rawYamlMessages(text: string): string[] {
  const out: string[] = [];
  for (const doc of parseAllDocuments(text, { prettyErrors: true, logLevel: 'warn' })) {
    for (const e of [...doc.errors, ...doc.warnings]) out.push(e.message);
    if (doc.errors.length === 0) {
      const warnings: string[] = [];
      const restore = process.emitWarning;
      process.emitWarning = ((w: string | Error) => warnings.push(String(w))) as typeof process.emitWarning;
      try {
        doc.toJS({ maxAliasCount: 50 });
      } catch (e) {
        out.push((e as Error).message);
      } finally {
        process.emitWarning = restore;
      }
      out.push(...warnings);
    }
  }
  return out;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tg-canary-'));
  for (const [name, text] of Object.entries(HOSTILE_YAML)) writeFileSync(join(dir, name), text);
  writeFileSync(
    join(dir, 'bad-policy.yaml'),
    `apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata: {name: p}\nspec:\n  mode: *${CANARY}\n`,
  );
  writeFileSync(
    join(dir, 'facts.yaml'),
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: *${CANARY}, namespace: a}\n`,
  );
  writeFileSync(
    join(dir, 'review.json'),
    `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "1", "object": {"data": {"k": ${CANARY}}}}}`,
  );
  writeFileSync(
    join(dir, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: *${CANARY}\n`,
  );
  writeFileSync(
    join(dir, 'kubeconfig-tag'),
    `apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: !${CANARY} x\n`,
  );
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(`${dir}-policies`, { recursive: true, force: true });
});

/** Runs the CLI in-process; everything it printed, process warnings included. */
async function everything(args: string[], stdin = ''): Promise<{ code: number; all: string }> {
  let all = '';
  const restore = process.emitWarning;
  process.emitWarning = ((w: string | Error) => {
    all += `warning: ${String(w)}\n`;
  }) as typeof process.emitWarning;
  try {
    const code = await main(args, {
      stdout: { write: (s: string) => (all += s) },
      stderr: { write: (s: string) => (all += s) },
      readStdin: () => stdin,
    });
    return { code, all };
  } finally {
    process.emitWarning = restore;
  }
}

test('each hostile input does make the yaml package quote the canary (or the test would prove nothing)', () => {
  for (const [name, text] of Object.entries(HOSTILE_YAML)) {
    expect({ name, quoted: rawYamlMessages(text).some((m) => m.includes(CANARY)) }).toEqual({ name, quoted: true });
  }
});

test.each(['text', 'json', 'junit', 'sarif'])(
  'tokenguard test --output %s reports every broken document without the canary',
  async (format) => {
    const r = await everything(['test', '--output', format, '--policies', join(REPO, 'policies'), dir]);
    expect(r.all).not.toContain(CANARY);
    // The problems are still reported, with their file names.
    for (const name of ['alias.yaml', 'block-header.yaml', 'flow.json']) expect(r.all).toContain(name);
  },
);

test('policy files: test, review, policy validate and token inspect name the problem, never the value', async () => {
  const policies = join(`${dir}-policies`);
  mkdirSync(policies, { recursive: true });
  writeFileSync(
    join(policies, 'p.yaml'),
    `apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata: {name: p}\nspec:\n  mode: *${CANARY}\n`,
  );
  writeFileSync(
    join(policies, 'q.yaml'),
    `apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata: {name: q}\nspec:\n  mode: Enforce\n  automount: {action: Keep}\n  x: !${CANARY} y\n`,
  );
  for (const args of [
    ['test', '--policies', policies, join(dir, 'alias.yaml')],
    ['review', '--policies', policies, join(dir, 'review.json')],
    ['policy', 'validate', policies],
    ['token', 'inspect', '--policies', policies, CANARY],
  ]) {
    const r = await everything(args);
    expect({ args: args[0], code: r.code }).toEqual({ args: args[0], code: args[0] === 'policy' ? 1 : 2 });
    expect(r.all).not.toContain(CANARY);
    expect(r.all).toMatch(/p\.yaml:1: YAML: an alias \(\*name\) refers to no anchor \(&name\) set before it/);
  }
});

test('facts files, an AdmissionReview and a token argument: no canary', async () => {
  const cases: [string[], string, RegExp][] = [
    [
      ['test', '--policies', join(REPO, 'policies'), '--facts', join(dir, 'facts.yaml'), join(dir, 'alias.yaml')],
      '',
      /facts\.yaml:\d+: YAML: an alias/,
    ],
    [
      ['review', '--policies', join(REPO, 'policies'), '--facts', join(dir, 'facts.yaml'), join(dir, 'review.json')],
      '',
      /facts\.yaml:\d+: YAML: an alias/,
    ],
    [
      ['review', '--policies', join(REPO, 'policies'), join(dir, 'review.json')],
      '',
      /review\.json: not a JSON AdmissionReview/,
    ],
    [['review', '--policies', join(REPO, 'policies'), '-'], `{"request": ${CANARY}}`, /-: not a JSON AdmissionReview/],
    [
      ['token', 'inspect', CANARY],
      '',
      /the argument \(23 characters\) is neither a readable file \(ENOENT\) nor a well-formed JWT/,
    ],
    [['token', 'inspect', '-'], `${CANARY}\n`, /stdin: not a readable JWT/],
    [['token', 'inspect', `${CANARY}.${CANARY}`], '', /the argument \(47 characters\) is neither a readable file/],
  ];
  for (const [args, stdin, message] of cases) {
    const r = await everything(args, stdin);
    expect(r.code).toBe(2);
    expect(r.all).toMatch(message);
    expect(r.all).not.toContain(CANARY);
  }
});

test('a kubeconfig that does not parse is named, its content never quoted', () => {
  const warnings: string[] = [];
  const restore = process.emitWarning;
  process.emitWarning = ((w: string | Error) => warnings.push(String(w))) as typeof process.emitWarning;
  try {
    expect(() => loadKubeConfig(join(dir, 'kubeconfig'), {})).toThrow(
      /kubeconfig .*kubeconfig is not valid YAML: an alias \(\*name\) refers to no anchor set before it$/,
    );
    const err = (() => {
      try {
        loadKubeConfig(join(dir, 'kubeconfig'), {});
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(err).not.toContain(CANARY);
    // An unknown tag is only a warning for the parser; it must not reach stderr as a process warning.
    expect(() => loadKubeConfig(join(dir, 'kubeconfig-tag'), {})).toThrow(/names no current cluster/);
    expect(warnings.join('\n')).not.toContain(CANARY);
  } finally {
    process.emitWarning = restore;
  }
});
