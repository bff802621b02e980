/**
 * The observed-use facts in force (`serve --usage FILE`, a mounted ConfigMap holding a
 * TokenUsage document), and their hot reload, as policies reload (policies.ts): the whole set
 * is read again on a change and swapped in one assignment; a set with any error is not used,
 * the last good one stays in force, and every error is logged with file, line and field.
 */
import type { Logger } from '../log.js';
import type { UsageFacts } from '../usage/facts.js';
import { loadUsageFacts } from '../usage/load.js';
import { fileReload } from './watch.js';

/** How long usage files must stay unchanged before a change is loaded (as policies). */
export const DEFAULT_USAGE_SETTLE_MS = 500;

export interface UsageStore {
  /** The facts in force. */
  current(): UsageFacts;
  /** Loads the files again now; false when they are invalid (the last good facts stay). */
  reload(): boolean;
  watch(options?: { readonly pollIntervalMs?: number; readonly settleMs?: number }): void;
  close(): void;
}

export type LoadUsageStoreResult =
  | { readonly ok: true; readonly store: UsageStore }
  | { readonly ok: false; readonly errors: readonly string[] };

/** Loads the usage files; every error when they are invalid (start-up must then fail). */
export function loadUsageStore(options: {
  readonly paths: readonly string[];
  readonly logger: Logger;
}): LoadUsageStoreResult {
  const { paths, logger } = options;
  const files = fileReload(paths, () => reload(), DEFAULT_USAGE_SETTLE_MS);
  const first = loadUsageFacts(paths);
  if (!first.facts) return { ok: false, errors: first.errors };
  let facts: UsageFacts = first.facts;
  const describe = (f: UsageFacts) => ({
    serviceAccounts: f.serviceAccounts.size,
    ...(f.from !== undefined ? { from: new Date(f.from).toISOString() } : {}),
    ...(f.to !== undefined ? { to: new Date(f.to).toISOString() } : {}),
  });
  logger.info({ event: 'usage', result: 'success', files: paths, ...describe(facts) }, 'observed-use facts loaded');
  const reload = (): boolean => {
    const loaded = loadUsageFacts(paths);
    if (!loaded.facts) {
      for (const error of loaded.errors) logger.error({ event: 'usage-error', error }, 'usage facts error');
      logger.error(
        { event: 'usage', result: 'failure', errorCount: loaded.errors.length },
        'usage facts are invalid; keeping the last good ones',
      );
      return false;
    }
    facts = loaded.facts;
    logger.info({ event: 'usage', result: 'success', files: paths, ...describe(facts) }, 'observed-use facts reloaded');
    return true;
  };
  const store: UsageStore = {
    current: () => facts,
    reload,
    watch: files.watch,
    close: files.close,
  };
  return { ok: true, store };
}
