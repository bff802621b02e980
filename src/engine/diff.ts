import fastJsonPatch from 'fast-json-patch';
import type { JsonObject } from '../json.js';
import type { PatchOperation } from './types.js';

/** The JSON Patch (RFC 6902) that turns `from` into `to`; pure, used for both served and audit patches. */
export function diff(from: JsonObject, to: JsonObject): PatchOperation[] {
  return fastJsonPatch.compare(from, to) as PatchOperation[];
}
