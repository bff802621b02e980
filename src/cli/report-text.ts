/** Former path of src/cli/report/text.ts, still imported by bench/cli.bench.ts; delete once it imports the new path. */
export { formatText } from './report/text.js';
