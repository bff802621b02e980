/** Former path of src/dryrun/run.ts, still imported by bench/cli.bench.ts; delete once it imports the new path. */
export { runDryRun } from '../dryrun/run.js';
