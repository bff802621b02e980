/** Former path of src/cli/commands/serve.ts, still imported by test/http/; delete once they import the new paths. */
export { loadKubeConfig } from '../kube/config.js';
export { parseDuration, runServeCommand } from './commands/serve.js';
