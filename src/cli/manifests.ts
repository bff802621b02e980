/** Former path of src/dryrun/manifests.ts, still imported by bench/cli.bench.ts; delete once it imports the new path. */
export { parseManifests } from '../dryrun/manifests.js';
