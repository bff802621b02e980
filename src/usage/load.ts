/**
 * Reads TokenUsage documents from files (YAML or JSON, several documents each): what
 * `serve --usage` loads and reloads. The parsing and checks are facts.ts's; this only reads.
 */
import { readFileSync } from 'node:fs';
import { parseManifests } from '../dryrun/manifests.js';
import { type SourcedDocument, usageFactsFrom, type UsageFacts } from './facts.js';

/** The facts of every TokenUsage document in the files, or every problem as `file:line: field: message`. */
export function loadUsageFacts(files: readonly string[]): { facts?: UsageFacts; errors: string[] } {
  const documents: SourcedDocument[] = [];
  const errors: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      errors.push(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    const parsed = parseManifests(text, file);
    errors.push(...parsed.errors);
    for (const o of parsed.objects) documents.push({ object: o.object, where: `${file}:${o.line}` });
  }
  if (errors.length === 0 && documents.length === 0) errors.push(`${files.join(', ')}: no TokenUsage document`);
  const r = usageFactsFrom(documents);
  return errors.length > 0 ? { errors: [...errors, ...r.errors] } : r;
}
