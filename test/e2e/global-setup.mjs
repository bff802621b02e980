/**
 * Jest `globalSetup` of the e2e suite. Jest loads global hooks outside its ESM module registry,
 * where `./x.js` imports of TypeScript files do not resolve, so this plain ESM file loads the
 * real setup (suite-setup.ts) through tsx, the TypeScript runner the repository already uses.
 */
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { default: setup } = await tsImport('./suite-setup.ts', import.meta.url);
  await setup();
}
