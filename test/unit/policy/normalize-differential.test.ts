// Differential test of the cache-key scanner against PostgreSQL's own parser: whenever the scanner yields a key,
// the text with literals as $n parses to the same tree (A_Const/ParamRef and locations erased), and every text that
// shares a key with a shareable (cacheable-under-the-key) text gets the same verdict and the same erased tree.
import t from 'tap';
import { initPolicyParser, AccessPolicy } from '../../../src/policy/index.js';
import { parseTree } from '../../../src/policy/classify.js';
import { normalizeForCache, toParamForm, type Literal } from '../../../src/policy/normalize.js';
import { ROLES, USERS } from './fixtures.js';

let seed = 0x5eed;
const rnd = (n: number): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const pick = <T>(a: readonly T[]): T => a[rnd(a.length)] as T;

const BASES = [
  "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
  "SELECT * FROM t WHERE name = 'bob' AND age > 30",
  "SELECT 'a', 1.5, -2, .5 FROM t",
  "SELECT * FROM t WHERE a = -1 OR b=-2.5 OR c - 3 > 0",
  "SELECT * FROM salaries WHERE id = 7",
  "SELECT * FROM \"salaries\" WHERE note = 'x''y'",
  "SELECT * FROM \"sal\"\"aries\" WHERE note = ''",
  "INSERT INTO t (a, b) VALUES (1, 'two'), (3, 'four')",
  "UPDATE t SET a = 5, b = 'x' WHERE id = 9",
  "DELETE FROM t WHERE id IN (1, 2, 3)",
  "SELECT set_config('application_name', 'x', false)",
  "SELECT set_config('role', 'postgres', false)",
  "SELECT nextval('s')",
  "SET statement_timeout = 1000",
  "SET search_path = 'public'",
  "SELECT interval '1 day', date '2020-01-01', '1'::int",
  "SELECT * FROM t LIMIT 10 OFFSET 20",
  "SELECT * FROM t WHERE a BETWEEN 1 AND 10 ORDER BY 1",
  "SELECT CASE WHEN a = 1 THEN 'one' ELSE 'other' END FROM t",
  "SELECT 'a'\n'b'",
  "SELECT 'a' 'b'",
  "SELECT pg_read_file('/etc/passwd')",
  "SELECT table_to_xml('public.salaries', true, false, '')",
  "COPY t TO '/tmp/x'",
  "FETCH 10 FROM c",
  "SELECT * FROM t WHERE a = 1; DELETE FROM t WHERE b = 'x'",
  "SELECT 1; SELECT 'two'",
  "SELECT * FROM t WHERE x ~ '^a' AND y LIKE 'b%'",
  "SELECT a::varchar(10), b::numeric(5, 2) FROM t",
  "SELECT * FROM t WHERE (a, b) = (1, 'q')",
  "SELECT array[1, 2, 3], '{1,2}'::int[]",
  "SELECT * FROM t WHERE a = 1 FOR UPDATE",
  "NOTIFY ch, 'payload'",
  "SELECT 1 AS \"x'y\", 'p' AS q",
  "EXPLAIN SELECT * FROM t WHERE a = 3",
  "PREPARE p AS SELECT * FROM t WHERE a = 1",
  "SELECT e FROM t WHERE u = 'x' AND n = 2",
  "SELECT * FROM t WHERE a = 1 -- trailing",
];
const STRING_BITS = ["''", ' ', ';', '--', '/*', '*/', '$$', '"', '\\', 'x', 'DELETE FROM t', '0', ''];
const INSERT_BITS = ["'", '"', '\\', '$', '-', '/', '*', 'E', 'U', '&', '0', '1', '.', 'e', 'x', ' ', ';', "''", '""', '\n', '$1', '—'];

function mutateLiterals(sql: string, lits: readonly Literal[]): string {
  let out = '';
  let at = 0;
  for (const l of lits) {
    out += sql.slice(at, l.start);
    if (l.kind === 'string') {
      let body = '';
      for (let k = rnd(4); k > 0; k--) body += pick(STRING_BITS);
      out += `'${body.replace(/'/g, "''").replace(/''''/g, "''")}'`;
    } else if (l.kind === 'integer') {
      out += pick(['0', '7', '123456789', '2147483647', '007']);
    } else {
      out += pick(['99999999999999999999', '2147483648', '1.25', '.5', '3.0']);
    }
    at = l.end;
  }
  return out + sql.slice(at);
}

function insertNoise(sql: string): string {
  const pos = rnd(sql.length + 1);
  return sql.slice(0, pos) + pick(INSERT_BITS) + sql.slice(pos);
}

type J = null | boolean | number | string | J[] | { [k: string]: J };
function erase(node: J): J {
  if (Array.isArray(node)) return node.map(erase);
  if (node === null || typeof node !== 'object') return node;
  if ('A_Const' in node || 'ParamRef' in node) return '<const>';
  const ax = node['A_Expr'];
  if (ax && typeof ax === 'object' && !Array.isArray(ax) && ax['lexpr'] === undefined) {
    const name = JSON.stringify(ax['name']);
    const r = erase(ax['rexpr'] ?? null);
    if (name === '[{"String":{"sval":"-"}}]' && r === '<const>') return '<const>'; // -5 is folded, -$1 is not
  }
  const out: { [k: string]: J } = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'location' || k === 'stmt_location' || k === 'stmt_len') continue;
    out[k] = erase(v);
  }
  return out;
}

function tryParse(sql: string): J | null {
  try {
    return parseTree(sql) as J;
  } catch {
    return null;
  }
}

t.before(async () => {
  await initPolicyParser();
});

t.test('scanner agrees with the parser on a generated corpus', async (t) => {
  const corpus: string[] = [];
  for (const b of BASES) corpus.push(b);
  while (corpus.length < 3000) {
    let s = pick(BASES);
    const n0 = normalizeForCache(s);
    if (n0 && rnd(2) === 0) s = mutateLiterals(s, n0.literals);
    for (let k = rnd(3); k > 0; k--) s = insertNoise(s);
    corpus.push(s);
  }
  let keyed = 0;
  let paramChecked = 0;
  let shared = 0;
  const policy = new AccessPolicy(ROLES, { cacheSize: 0 });
  const users = [USERS['reader']!, USERS['writer']!, USERS['dba']!];
  for (const sql of corpus) {
    const norm = normalizeForCache(sql);
    if (!norm) continue;
    keyed++;
    const orig = tryParse(sql);
    const param = tryParse(toParamForm(sql, norm.literals));
    if (orig && param) {
      paramChecked++;
      if (JSON.stringify(erase(orig)) !== JSON.stringify(erase(param))) t.fail(`param form differs: ${JSON.stringify(sql)}`);
    }
    // Variants with other literal values share the key; if the original is shareable they must share the verdict.
    for (let v = 0; v < 3; v++) {
      const other = mutateLiterals(sql, norm.literals);
      if (other === sql) continue;
      const probe = new AccessPolicy(ROLES); // fresh: a cached answer for `other` can only come from sql's key
      probe.openSession(users[0]!, 'yugabyte').checkQuery(sql);
      const n2 = normalizeForCache(other);
      if (!n2) continue; // e.g. a backslash went into a literal: no key, nothing shared
      if (n2.key !== norm.key) {
        t.fail(`variant changed the key: ${JSON.stringify(sql)} -> ${JSON.stringify(other)}`);
        continue;
      }
      const hit = probe.openSession(users[0]!, 'yugabyte').checkQuery(other);
      const sharedHit = hit.allow && hit.cached;
      if (!sharedHit) continue;
      shared++;
      const o2 = tryParse(other);
      if (!orig || !o2 || JSON.stringify(erase(orig)) !== JSON.stringify(erase(o2))) t.fail(`shared key, different trees: ${JSON.stringify(sql)} vs ${JSON.stringify(other)}`);
      for (const u of users) {
        const a = policy.openSession(u, 'yugabyte').checkQuery(sql);
        const b = policy.openSession(u, 'yugabyte').checkQuery(other);
        if (a.allow !== b.allow || (!a.allow && !b.allow && a.message !== b.message)) t.fail(`shared key, different verdicts for ${u.name}: ${JSON.stringify(sql)} vs ${JSON.stringify(other)}`);
      }
    }
  }
  t.ok(keyed > 800, `scanner produced keys for ${keyed} of ${corpus.length} texts`);
  t.ok(paramChecked > 500, `${paramChecked} texts compared with their $n form`);
  t.ok(shared > 300, `${shared} cache hits across different literal values checked`);
});

t.test('the scanner refuses what it does not fully understand', async (t) => {
  for (const s of [
    "SELECT E'\\''", "SELECT U&'\\0041'", "SELECT U&\"a\"", "SELECT B'101'", "SELECT X'1f'", "SELECT N'x'",
    'SELECT $1', 'SELECT $$x$$', 'SELECT 1 -- c', 'SELECT /* c */ 1', 'SELECT 1e5', 'SELECT 1abc', 'SELECT 0x1f',
    "SELECT 'unterminated", 'SELECT "unterminated', 'SELECT \'é\'', 'SELECT 1.', 'SELECT 1..2', "SELECT 'a\\b'",
    "SELECT date'2020-01-01'", 'SELECT `x`', 'SELECT 1\u000b', "SELECT 1'a'",
  ]) {
    t.equal(normalizeForCache(s), null, s);
  }
  const n = normalizeForCache("SELECT \"a'b\", 'x''y' FROM t WHERE a = 12 AND b = .5");
  t.same(n?.key, 'SELECT "a\'b", $s FROM t WHERE a = $i AND b = $n');
});
