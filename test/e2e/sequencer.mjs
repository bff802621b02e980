/**
 * Runs the e2e scenario files in file-name order (01-..., 02-..., ...). Scenario 8 reads what
 * 1-7 left in the logs, and scenario 9 stops tokenguard, so the order matters; Jest's default
 * (slowest or last failed first) would change it from run to run.
 */
export default class FileNameOrder {
  sort(tests) {
    return [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  shard(tests) {
    return tests;
  }

  allFailedTests(tests) {
    return tests;
  }

  cacheResults() {}
}
