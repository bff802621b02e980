/**
 * The memory lines of a Linux `/proc/PID/status`, in bytes: `VmRSS` and its parts `RssAnon` (the
 * process's own memory: heap, buffers, compiled code), `RssFile` (pages of mapped files, mostly
 * the node binary: shared between processes and dropped first under memory pressure) and
 * `RssShmem`. A field the text lacks is NaN.
 */
export interface RssParts {
  readonly rssAnon: number;
  readonly rssFile: number;
}

export interface ProcStatusMemory extends RssParts {
  readonly vmRss: number;
  readonly rssShmem: number;
}

export function parseProcStatusMemory(status: string): ProcStatusMemory {
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  };
  return { vmRss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile'), rssShmem: kb('RssShmem') };
}
