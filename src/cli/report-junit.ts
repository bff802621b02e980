/** Former path of src/cli/report/junit.ts, still imported by bench/cli.bench.ts; delete once it imports the new path. */
export { formatJunit } from './report/junit.js';
