/**
 * The one object check of `src/kube`: the same rule as `isObject` of `src/engine/json.ts`.
 * It is not imported from there because `src/kube` takes values only from `node:` modules,
 * `yaml` and itself (`test/unit/architecture.test.ts`), so that it stays a self-contained client.
 */

/** True for a non-null, non-array object (a JSON object or a YAML mapping). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
