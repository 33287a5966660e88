import t from 'tap';
import {
  isScramVerifier,
  parseFunctionPattern,
  parseHostPort,
  parseObjectPattern,
} from '../../../src/config/patterns.js';

const VERIFIER =
  'SCRAM-SHA-256$4096:KlpgkuQtuEkQM37Ib0gU6g==$zG7lW9Go4sj7cGlJVV/MR6xFKVTPT39RveMNaPgyeXM=:mtXbbmjlEBdZpdgsGPRa9iQHQfMvu9J4RhenXfdlhDY=';

t.test('parseHostPort', async (t) => {
  const ok: Array<[string, number | null, string, number]> = [
    ['db:5433', null, 'db', 5433], ['db', 5433, 'db', 5433], ['[::1]:5433', null, '::1', 5433], ['[::1]', 5433, '::1', 5433],
    ['10.0.0.1:1', null, '10.0.0.1', 1], ['yb-tserver-0.yb-tservers.ns.svc.cluster.local:5433', null, 'yb-tserver-0.yb-tservers.ns.svc.cluster.local', 5433],
  ];
  for (const [text, def, host, port] of ok) t.same(parseHostPort(text, def), { ok: true, value: { host, port } }, text);
  const bad: Array<[string, number | null]> = [
    ['db', null], ['::1:5433', 5433], ['db:65536', null], ['db:0', null], ['db:05433', null], ['[::1', null], ['010.0.0.1:5433', null],
    ['0x7f.1:5433', null], ['127.1:5433', null], ['-db:5433', null], ['db_1:5433', null], ['db:', 5433], ['', 5433], ['[10.0.0.1]:1', null],
  ];
  for (const [text, def] of bad) t.equal(parseHostPort(text, def).ok, false, text);
  t.same(parseHostPort('127.0.0.1:0', null, true), { ok: true, value: { host: '127.0.0.1', port: 0 } });
});

t.test('object patterns: schema.table, schema.*, *; identifiers folded or quoted', async (t) => {
  const ok: Array<[string, string]> = [
    ['*', '*'], ['public.*', 'public.*'], ['public.salaries', 'public.salaries'], ['Public.Salaries', 'public.salaries'],
    ['"Public"."Salaries"', '"Public"."Salaries"'], ['"public"."t"', 'public.t'], ['"a.b".c', '"a.b".c'],
    ['"we""ird".t', '"we""ird".t'], ['s.$x', ''],
  ];
  for (const [text, canon] of ok) {
    if (canon === '') t.equal(parseObjectPattern(text).ok, false, text);
    else t.same(parseObjectPattern(text), { ok: true, value: canon }, text);
  }
  for (const text of ['salaries', '*.t', 'a.b.c', '', 'public.', '.t', 'public.sal aries', '"unterminated.t', 'public.*x']) {
    t.equal(parseObjectPattern(text).ok, false, text);
  }
});

t.test('function patterns allow a bare name (any schema)', async (t) => {
  t.same(parseFunctionPattern('pg_read_file'), { ok: true, value: 'pg_read_file' });
  t.same(parseFunctionPattern('PG_CATALOG.Pg_Read_File'), { ok: true, value: 'pg_catalog.pg_read_file' });
  t.same(parseFunctionPattern('public.*'), { ok: true, value: 'public.*' });
  t.same(parseFunctionPattern('*'), { ok: true, value: '*' });
  t.equal(parseFunctionPattern('*.f').ok, false);
  t.equal(parseFunctionPattern('f()').ok, false);
});

t.test('isScramVerifier', async (t) => {
  t.ok(isScramVerifier(VERIFIER));
  const bad = [
    '', 'hunter2', 'md5a3556571e93b0d20722ba62be61e8c2d', VERIFIER.replace('SHA-256', 'SHA-1'), VERIFIER.replace('$4096:', '$0:'),
    VERIFIER.replace('$4096:', '$:'), VERIFIER.slice(0, -2), `${VERIFIER}x`, VERIFIER.replace('==$', '=$'),
    'SCRAM-SHA-256$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAA==:AAAAAAAAAAAAAAAAAAAAAA==', VERIFIER.replace('$4096:', '$99999999999:'),
  ];
  for (const v of bad) t.notOk(isScramVerifier(v), v.slice(0, 30));
});
