/** Former path of src/cli/report/sarif.ts, still imported by bench/cli.bench.ts; delete once it imports the new path. */
export { formatSarif } from './report/sarif.js';
