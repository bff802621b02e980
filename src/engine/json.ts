/** Former path of src/json.ts, still imported by bench/ and test/http/; delete once they import src/json.ts. */
export { type JsonObject, type JsonValue, jsonDepth } from '../json.js';
