/** Former path of src/cli/report/json.ts, still imported by bench/cli.bench.ts; delete once it imports the new path. */
export { formatJson } from './report/json.js';
