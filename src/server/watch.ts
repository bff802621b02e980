/**
 * Notices when files change on disk, for policy and certificate hot reload.
 *
 * Kubernetes updates ConfigMap and Secret volumes by writing a new timestamped folder and
 * renaming a `..data` symlink over the old one; the visible files are symlinks through `..data`.
 * Watching the files themselves therefore misses updates (the watched inode never changes), so
 * we watch the *folders* (a rename of `..data` is an event there) and also poll every few seconds,
 * because `fs.watch` is not reliable on every file system (network mounts, some overlay setups)
 * and a folder that is deleted and recreated loses its watcher. This is controller-runtime's
 * certwatcher approach (fsnotify plus a periodic re-read).
 *
 * Either signal only triggers a comparison of a content fingerprint; the callback runs when the
 * content actually changed, so bursts of events and the poll do not cause extra reloads. With
 * `settleMs`, it runs only once the content has stopped changing for that long: a file that a
 * slow writer is still writing (an editor, `cat >`, a copy over the network) is not read halfway.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, readdirSync, readFileSync, realpathSync, statSync, watch } from 'node:fs';
import { dirname, join } from 'node:path';

export interface WatchOptions {
  /** Folders to watch; a file's folder is watched for the file. */
  readonly dirs: readonly string[];
  /** A digest of everything that matters; the callback runs when it changes. */
  readonly fingerprint: () => string;
  /** Called after a change, at most once per distinct fingerprint. Must not throw. */
  readonly onChange: () => void;
  /** Default 2000 ms. */
  readonly pollIntervalMs?: number;
  /** Quiet time after an event before comparing, so several writes become one reload. Default 50 ms. */
  readonly debounceMs?: number;
  /** The fingerprint of the content the caller loaded; default: the fingerprint now. */
  readonly baseline?: string;
  /**
   * A changed fingerprint must then stay the same for this long before `onChange` runs; every
   * further change starts the wait again. Default 0: at once.
   */
  readonly settleMs?: number;
}

export interface Watch {
  /** Compares the fingerprint now and calls `onChange` if it moved (with `settleMs`: once it has settled). */
  check(): void;
  close(): void;
}

/**
 * Starts watching. Pass as `baseline` the fingerprint taken just before the caller loaded the
 * content, so a change between that load and this call is not missed.
 */
export function watchForChanges(options: WatchOptions): Watch {
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  const debounceMs = options.debounceMs ?? 50;
  const settleMs = options.settleMs ?? 0;
  let last = options.baseline ?? safeFingerprint(options.fingerprint);
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  /** A changed fingerprint waiting to settle, and the timer that looks again. */
  let pending: string | undefined;
  let settle: NodeJS.Timeout | undefined;
  const watchers = new Map<string, FSWatcher>();

  const fire = (now: string) => {
    pending = undefined;
    last = now;
    options.onChange();
  };
  /** The settle timer: fires if nothing changed since the change was seen, else waits again. */
  const settled = () => {
    settle = undefined;
    if (closed) return;
    const now = safeFingerprint(options.fingerprint);
    if (now === last) pending = undefined;
    else if (now === pending) fire(now);
    else wait(now);
  };
  const wait = (now: string) => {
    pending = now;
    if (settle) clearTimeout(settle);
    settle = setTimeout(settled, settleMs);
    settle.unref();
  };
  const check = () => {
    if (closed) return;
    const now = safeFingerprint(options.fingerprint);
    if (now === last) {
      // Changed and changed back before settling: nothing to do.
      pending = undefined;
      if (settle) clearTimeout(settle);
      settle = undefined;
      return;
    }
    if (settleMs <= 0) fire(now);
    else if (now !== pending) wait(now);
  };
  const schedule = () => {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(check, debounceMs);
    debounce.unref();
  };
  const ensureWatchers = () => {
    for (const dir of new Set(options.dirs)) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, schedule);
        w.on('error', () => {
          // The folder went away or became unreadable: the poll carries on and re-watches it.
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch {
        // Missing or unwatchable folder: polling still notices when it appears.
      }
    }
  };
  ensureWatchers();
  const poll = setInterval(() => {
    ensureWatchers();
    check();
  }, pollIntervalMs);
  poll.unref();

  return {
    check,
    close() {
      closed = true;
      clearInterval(poll);
      if (debounce) clearTimeout(debounce);
      if (settle) clearTimeout(settle);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

/** The fingerprint, or a marker of why it could not be taken (which then counts as content). */
export function safeFingerprint(fp: () => string): string {
  try {
    return fp();
  } catch (e) {
    return `error:${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}

/** The folders to watch for a list of files and folders: folders themselves, a file's parent. */
export function dirsToWatch(paths: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      // missing: watch where it would appear
    }
    out.add(isDir ? p : dirname(p));
  }
  return [...out];
}

/** Files larger than this are fingerprinted by size and modification time only. */
const MAX_HASHED_BYTES = 4 * 1024 * 1024;
/** How deep folders are followed (a ConfigMap volume is two levels deep). */
const MAX_DEPTH = 8;

/**
 * A digest of the content of files and folders: every regular file below a folder (entries
 * starting with `.` are skipped, as the policy loader skips them), by path and content.
 * Missing paths are part of the digest, so a file appearing or vanishing is a change. A folder
 * reached again through a symlink (a loop, or a second link to it) is entered once, so
 * symlink loops cost nothing (the policy loader reports them).
 */
export function contentFingerprint(paths: readonly string[]): string {
  const hash = createHash('sha256');
  const entered = new Set<string>();
  const add = (p: string, depth: number) => {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (e) {
      hash.update(`missing\0${p}\0${(e as NodeJS.ErrnoException).code ?? ''}\0`);
      return;
    }
    if (st.isDirectory()) {
      if (depth >= MAX_DEPTH) return;
      let real: string;
      try {
        real = realpathSync(p);
      } catch {
        real = p;
      }
      if (entered.has(real)) {
        hash.update(`again\0${p}\0${real}\0`);
        return;
      }
      entered.add(real);
      let names: string[];
      try {
        names = readdirSync(p)
          .filter((n) => !n.startsWith('.'))
          .sort();
      } catch (e) {
        hash.update(`unreadable\0${p}\0${(e as NodeJS.ErrnoException).code ?? ''}\0`);
        return;
      }
      hash.update(`dir\0${p}\0`);
      for (const n of names) add(join(p, n), depth + 1);
      return;
    }
    if (!st.isFile()) return;
    if (st.size > MAX_HASHED_BYTES) {
      hash.update(`large\0${p}\0${st.size}\0${st.mtimeMs}\0${st.ino}\0`);
      return;
    }
    try {
      hash.update(`file\0${p}\0`);
      hash.update(readFileSync(p));
      hash.update('\0');
    } catch (e) {
      hash.update(`unreadable\0${p}\0${(e as NodeJS.ErrnoException).code ?? ''}\0`);
    }
  };
  for (const p of paths) add(p, 0);
  return hash.digest('hex');
}

/** The watch of a store loaded from files: started at most once, closed with the store. */
export interface FileReload {
  watch(options?: { readonly pollIntervalMs?: number; readonly settleMs?: number }): void;
  close(): void;
}

/**
 * Calls `onChange` when the contents under `paths` change. The baseline is taken now, so create
 * it before the first load: a change made while that load runs is still seen.
 */
export function fileReload(paths: readonly string[], onChange: () => void, defaultSettleMs: number): FileReload {
  const fingerprint = () => contentFingerprint(paths);
  const baseline = safeFingerprint(fingerprint);
  let watcher: Watch | undefined;
  return {
    watch(options = {}) {
      if (watcher) return;
      watcher = watchForChanges({
        dirs: dirsToWatch(paths),
        fingerprint,
        baseline,
        onChange,
        settleMs: options.settleMs ?? defaultSettleMs,
        ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      });
    },
    close() {
      watcher?.close();
      watcher = undefined;
    },
  };
}
