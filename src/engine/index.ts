/** The policy engine: pure functions of (policies, input, facts). */
export * from '../constants.js';
export { evaluate, type EvaluateArgs, warning } from './evaluate.js';
export { diff } from './diff.js';
export type { JsonObject, JsonValue } from '../json.js';
export { isObject, jsonDepth } from '../json.js';
export type * from './types.js';
