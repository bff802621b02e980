/**
 * Jest global teardown of the e2e suite: stops tokenguard (by the pid in the state file, as a
 * scenario may have restarted it), then the control plane, checks that no process of
 * the run is left, and removes the work dir unless a test failed or TOKENGUARD_E2E_KEEP=1.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { loadState } from './env.js';
import type { E2EGlobals } from './suite-setup.js';
import { stopServe } from './tokenguard.js';

function log(message: string): void {
  process.stderr.write(`e2e: ${message}\n`);
}

export default async function globalTeardown(): Promise<void> {
  const globals = (globalThis as { __TOKENGUARD_E2E__?: E2EGlobals }).__TOKENGUARD_E2E__;
  if (!globals) return;
  const state = globals.statePath ? loadState(globals.statePath) : undefined;
  if (state) await stopServe(state);
  await globals.cluster?.stop();

  let leftovers: string[] = [];
  if (state) {
    const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
    leftovers = ps.split('\n').filter((l) => l.includes(state.workDir));
  }
  const failed = state?.failed === true || leftovers.length > 0;
  log(`total e2e run (setup + scenarios + teardown): ${((Date.now() - globals.startedAt) / 1000).toFixed(1)} s`);
  if (leftovers.length > 0) log(`processes left running:\n${leftovers.join('\n')}`);
  if (state && !failed && process.env.TOKENGUARD_E2E_KEEP !== '1')
    rmSync(state.workDir, { recursive: true, force: true });
  else if (state) log(`work dir kept (logs, state.json, kubectl transcript): ${state.workDir}`);
  globalThis.__TOKENGUARD_E2E__ = undefined;
  if (leftovers.length > 0) throw new Error('e2e: processes of the run are still alive after the teardown');
}
