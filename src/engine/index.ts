/** The policy engine: pure functions of (policies, input, facts). */
export * from '../constants.js';
export { evaluate, type EvaluateArgs } from './evaluate.js';
export { warning } from './messages.js';
export { diff } from './diff.js';
export type { JsonObject, JsonValue } from '../json.js';
export { isObject, jsonDepth } from '../json.js';
export type * from './types.js';
