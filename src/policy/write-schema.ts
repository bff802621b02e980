/**
 * Writes policies/schema.json (TokenPolicy and TokenUsage documents),
 * src/policy/schema-validator.generated.ts and docs/policy-reference.md from the schema the
 * loader uses (`npm run schema`).
 */
import { writeFileSync } from 'node:fs';
import { policyReference } from './reference.js';
import { documentSchema } from './schema.js';
import { policyValidatorSource } from './validator-source.js';

const target = process.argv[2] ?? 'policies/schema.json';
writeFileSync(target, `${JSON.stringify(documentSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
const validator = 'src/policy/schema-validator.generated.ts';
writeFileSync(validator, policyValidatorSource());
console.log(`wrote ${validator}`);
const reference = 'docs/policy-reference.md';
writeFileSync(reference, policyReference());
console.log(`wrote ${reference}`);
