/**
 * The policy set in force, and its hot reload.
 *
 * On a change the whole set is loaded again with the same loader the CLI uses and swapped in one
 * assignment, so a review sees either the old set or the new one, never a mix. A set with any
 * error is not used at all: the last good set stays in force, every error is logged with file,
 * document and field, and `tokenguard_policy_last_reload_success` drops to 0 until the files
 * are fixed. A file that held policies in the set in force and now holds none (emptied, or
 * only comments left) counts as such an error, unless `allowEmptiedFiles` is set: that is
 * how an editor's truncate-then-write, or a mistaken `kubectl apply` of an empty ConfigMap
 * key, would otherwise switch policies off without a word. Deleting a file removes its
 * policies. While watching, a change is loaded only once the files have stopped changing for
 * {@link DEFAULT_POLICY_SETTLE_MS} (a file still being written is not read).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { emptiedFiles, type LoadResult, loadPolicies } from '../policy/load.js';
import { formatPolicyError, type TokenPolicy } from '../policy/types.js';
import type { Metrics } from './metrics.js';
import { fileReload } from './watch.js';

/** What a reload attempt did; emitted as the `reload` event. */
export interface PolicyReloadEvent {
  readonly result: 'success' | 'failure';
  /** Files that held policies and now hold none (errors unless `allowEmptiedFiles`). */
  readonly emptied: readonly string[];
  /** Increases with every successful load (1 after start-up). */
  readonly generation: number;
  /** Policies in force after the attempt. */
  readonly loaded: number;
  /** Formatted errors of a failed attempt. */
  readonly errors: readonly string[];
}

export interface PolicyStore {
  /** The set in force; a new array after each successful reload, never modified in place. */
  current(): readonly TokenPolicy[];
  /** Successful loads so far, start-up included. */
  generation(): number;
  /** True when the files on disk are the set in force (the last attempt succeeded). */
  upToDate(): boolean;
  /** Loads the files again now, whether or not they changed. */
  reload(): PolicyReloadEvent;
  /** Starts watching the files (folder watch plus poll); a change is loaded once it has settled. */
  watch(options?: { readonly pollIntervalMs?: number; readonly settleMs?: number }): void;
  /** Stops watching. */
  close(): void;
  /** `reload` events, for logs and tests. */
  readonly events: EventEmitter<{ reload: [PolicyReloadEvent] }>;
}

export interface PolicyStoreOptions {
  readonly paths: readonly string[];
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** A file that held policies may come back empty (its policies are then dropped, with a warning). Default false. */
  readonly allowEmptiedFiles?: boolean;
}

/** How long policy files must stay unchanged before a change is loaded. */
export const DEFAULT_POLICY_SETTLE_MS = 500;

export type LoadStoreResult =
  | { readonly ok: true; readonly store: PolicyStore }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Loads the policies at `paths` and returns a store holding them, or every error when the set
 * is invalid (start-up must then fail: never serve with no policies).
 */
export function loadPolicyStore(options: PolicyStoreOptions): LoadStoreResult {
  const { paths, logger, metrics } = options;
  const files = fileReload(paths, () => reload(), DEFAULT_POLICY_SETTLE_MS);
  const first = loadPolicies(paths);
  if (first.errors.length > 0) return { ok: false, errors: first.errors.map(formatPolicyError) };
  logWarnings(logger, first);
  /** What the set in force was loaded from: the files emptied since are measured against it. */
  let inForce: LoadResult['byFile'] = first.byFile;
  let policies: readonly TokenPolicy[] = Object.freeze([...first.policies]);
  let generation = 1;
  let upToDate = true;
  const events = new EventEmitter<{ reload: [PolicyReloadEvent] }>();
  metrics.setPoliciesLoaded(policies.length);

  const reload = (): PolicyReloadEvent => {
    let event: PolicyReloadEvent;
    let loaded: ReturnType<typeof loadPolicies>;
    try {
      loaded = loadPolicies(paths);
    } catch (e) {
      // The loader collects errors rather than throwing; this is for the unforeseen.
      loaded = {
        policies: [],
        files: [],
        warnings: [],
        byFile: new Map(),
        errors: [{ file: paths.join(', '), document: 0, path: '', message: (e as Error).message }],
      };
    }
    const emptied = loaded.errors.length === 0 ? emptiedFiles(inForce, loaded.byFile) : [];
    const emptiedNames = emptied.map((e) => e.file);
    if (emptied.length > 0 && options.allowEmptiedFiles) {
      for (const e of emptied) {
        logger.warn(
          { event: 'policy-file-emptied', file: e.file },
          `${e.file} holds no policies any more; its policies are dropped (--allow-empty-policy-files)`,
        );
      }
    }
    const failed = loaded.errors.length > 0 ? loaded.errors : options.allowEmptiedFiles ? [] : emptied;
    if (failed.length > 0) {
      upToDate = false;
      const errors = failed.map(formatPolicyError);
      for (const error of errors) logger.error({ event: 'policy-error', error }, 'policy error');
      logger.error(
        { event: 'policy-reload', result: 'failure', errorCount: errors.length, inForce: policies.length, generation },
        'policy files are invalid; keeping the last good policy set',
      );
      metrics.observePolicyReload('failure', policies.length);
      event = { result: 'failure', emptied: emptiedNames, generation, loaded: policies.length, errors };
    } else {
      logWarnings(logger, loaded);
      inForce = loaded.byFile;
      policies = Object.freeze([...loaded.policies]);
      generation += 1;
      upToDate = true;
      logger.info(
        {
          event: 'policy-reload',
          result: 'success',
          policies: policies.map((p) => p.name),
          files: loaded.files.length,
          generation,
        },
        'policies reloaded',
      );
      metrics.observePolicyReload('success', policies.length);
      event = { result: 'success', emptied: emptiedNames, generation, loaded: policies.length, errors: [] };
    }
    events.emit('reload', event);
    return event;
  };

  const store: PolicyStore = {
    current: () => policies,
    generation: () => generation,
    upToDate: () => upToDate,
    reload,
    watch: files.watch,
    close: files.close,
    events,
  };
  return { ok: true, store };
}

/** Logs the warnings of a set about to be used (`policy validate` prints the same). */
function logWarnings(logger: Logger, loaded: LoadResult): void {
  for (const w of loaded.warnings)
    logger.warn({ event: 'policy-warning', warning: formatPolicyError(w) }, 'policy warning');
}
