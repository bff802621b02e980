/** Writes policies/schema.json from the schema the loader uses (`npm run schema`). */
import { writeFileSync } from 'node:fs';
import { tokenPolicySchema } from './schema.js';

const target = process.argv[2] ?? 'policies/schema.json';
writeFileSync(target, `${JSON.stringify(tokenPolicySchema, null, 2)}\n`);
console.log(`wrote ${target}`);
