// Micro-benchmark (not a test): µs per SessionGuard.checkQuery for pgbench's select with varying aid, cold parse vs
// cache hit. Run: POLICY_BENCH=1 TS_NODE_TRANSPILE_ONLY=1 node --loader @isaacs/ts-node-temp-fork-for-pr-2009/esm test/unit/policy/bench-check.ts
import { AccessPolicy, initPolicyParser } from '../../../src/policy/index.js';
import { parseTree } from '../../../src/policy/classify.js';
import { normalizeForCache } from '../../../src/policy/normalize.js';
import { ROLES, USERS } from './fixtures.js';

if (process.env['POLICY_BENCH'] !== '1') {
  console.log('# skipped: set POLICY_BENCH=1 to run the benchmark');
  process.exit(0);
}
await initPolicyParser();
const N = 20_000;
const q = (i: number): string => `SELECT abalance FROM pgbench_accounts WHERE aid = ${(i * 7919) % 100000 + 1};`;

function time(label: string, fn: (i: number) => unknown): void {
  for (let i = 0; i < 2000; i++) fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  console.log(`${label.padEnd(44)} ${us.toFixed(2)} µs/op`);
}

const cold = new AccessPolicy(ROLES, { cacheSize: 0 }).openSession(USERS['reader']!, 'yugabyte');
const warm = new AccessPolicy(ROLES).openSession(USERS['reader']!, 'yugabyte');
time('libpg-query parseSync alone', (i) => parseTree(q(i)));
time('normalizeForCache alone', (i) => normalizeForCache(q(i)));
time('checkQuery, cache disabled (cold parse)', (i) => cold.checkQuery(q(i)));
time('checkQuery, literal-blind cache hit', (i) => warm.checkQuery(q(i)));
time('checkQuery, exact-text cache hit', () => warm.checkQuery(q(1)));
