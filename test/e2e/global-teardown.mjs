/** Jest `globalTeardown` of the e2e suite: loads suite-teardown.ts through tsx (see global-setup.mjs). */
import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const { default: teardown } = await tsImport('./suite-teardown.ts', import.meta.url);
  await teardown();
}
