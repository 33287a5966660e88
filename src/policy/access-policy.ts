// The access decision for Query, Parse, FunctionCall and startup parameters: classification (cached) + role rules.
// Returns outcomes only: never logs, never counts, never touches sockets. What a client sees is in the decision.
import type { Privilege, RoleConfig, UserConfig } from '../config/types.js';
import { parseAndClassify, type Requirement, type StatementSummary } from './classify.js';
import { isUtf8Name } from './builtins.js';
import { Lru } from './lru.js';
import { normalizeForCache, redactSql, type Normalized } from './normalize.js';
import {
  buildRoleSet, checkCalledFunction, checkRequirement, compileRoles, type CompiledRole, type RoleSet, type RuleVerdict,
} from './rules.js';

export type AccessDecision =
  | { readonly allow: true; readonly privilege: Privilege | 'always'; readonly role: string | null; readonly cached: boolean }
  | {
      readonly allow: false;
      readonly sqlstate: '42501' | '42601';
      readonly message: string;
      readonly hint: string | null;
      readonly privilege: Privilege | 'unknown';
      readonly role: string | null;
      readonly rule: string;
      readonly redactedSql: string;
    };

export type Denial = AccessDecision & { allow: false };

export interface SessionGuard {
  checkQuery(sql: string): AccessDecision;
  checkParse(statementName: string, sql: string): AccessDecision;
  checkFunctionCall(functionOid: number): AccessDecision;
  rebind(policy: AccessPolicy, user: UserConfig): void;
}

type Classified = { readonly ok: true; readonly statements: readonly StatementSummary[] } | { readonly ok: false };
type CacheEntry = { readonly outcome: Classified; readonly decisions: Map<string, AccessDecision> };

const DEFAULT_CACHE_SIZE = 10_000;
const MAX_CACHED_TEXT = 8192; // longer texts are parsed every time (keys are hashed in full)
const RANK: Record<Privilege | 'always', number> = { always: 0, read: 1, write: 2, execute: 3, ddl: 4, admin: 5, all: 6 };

export class AccessPolicy {
  readonly #compiled: ReadonlyMap<string, CompiledRole>;
  readonly #cache: Lru<string, CacheEntry>;
  readonly #sets = new Map<string, RoleSet>();

  constructor(roles: readonly RoleConfig[], opts?: { cacheSize?: number }) {
    this.#compiled = compileRoles(roles);
    this.#cache = new Lru(opts?.cacheSize ?? DEFAULT_CACHE_SIZE);
  }

  /** @internal the compiled rules of one user's roles */
  roleSet(user: UserConfig): RoleSet {
    const key = user.roles.join('\u0001');
    let set = this.#sets.get(key);
    if (!set) {
      set = buildRoleSet(this.#compiled, user.roles);
      this.#sets.set(key, set);
    }
    return set;
  }

  mayOpenDatabase(user: UserConfig, database: string): boolean {
    return this.roleSet(user).roles.some((r) => r.databases.includes('*') || r.databases.includes(database));
  }

  isReadOnly(user: UserConfig): boolean {
    return this.roleSet(user).readOnly;
  }

  /** @internal pinned search_path (null when the user's rules name no objects) */
  pinnedSearchPath(user: UserConfig): string | null {
    const set = this.roleSet(user);
    return set.restricted ? set.searchPathText : null;
  }

  /**
   * Startup parameters. upstreamParams must override any client value of the same name: read-only users get
   * default_transaction_read_only=on; users whose rules name objects get search_path pinned to the schemas their
   * allow rules name (in config order; `public` when none), so unqualified names resolve where the rules expect.
   */
  checkStartup(
    user: UserConfig,
    _database: string,
    params: ReadonlyArray<{ name: string; value: string }>,
  ): { allow: true; upstreamParams: Record<string, string> } | Denial {
    const set = this.roleSet(user);
    const upstreamParams: Record<string, string> = {};
    if (set.readOnly) upstreamParams['default_transaction_read_only'] = 'on';
    if (set.restricted) upstreamParams['search_path'] = set.searchPathText;
    for (const { name, value } of params) {
      const n = name.toLowerCase().replace(/-/g, '_');
      if (!startupNeedsAdmin(set, n, value)) continue;
      const v = checkRequirement(set, { privilege: 'admin', target: { kind: 'setting', name: n } });
      if (!v.ok) return denial(v, '');
    }
    return { allow: true, upstreamParams };
  }

  openSession(user: UserConfig, database: string): SessionGuard {
    return new Guard(this, user, database);
  }

  /** @internal classification with the literal-blind cache */
  lookup(sql: string): { entry: CacheEntry; cached: boolean } {
    const cacheable = sql.length <= MAX_CACHED_TEXT;
    if (!cacheable) return { entry: { outcome: classifyText(sql).outcome, decisions: new Map() }, cached: false };
    const exact = `X${sql}`;
    const hitExact = this.#cache.get(exact);
    if (hitExact) return { entry: hitExact, cached: true };
    const norm = normalizeForCache(sql);
    const normKey = norm ? `N${norm.key}` : null;
    if (normKey) {
      const hit = this.#cache.get(normKey);
      if (hit) return { entry: hit, cached: true };
    }
    const { outcome, constLocations } = classifyText(sql);
    const entry: CacheEntry = { outcome, decisions: new Map() };
    if (normKey && norm && outcome.ok && shareable(sql, norm, outcome.statements, constLocations)) this.#cache.set(normKey, entry);
    else this.#cache.set(exact, entry);
    return { entry, cached: false };
  }
}

function startupNeedsAdmin(set: RoleSet, n: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  const on = ['on', 'true', 'yes', '1'].includes(v);
  switch (n) {
    case 'role':
    case 'session_authorization':
    case 'transaction_read_only':
    case 'options': // should arrive split into pairs; a raw one cannot be checked
      return true;
    case 'replication':
      return !['off', 'false', 'no', '0'].includes(v);
    case 'default_transaction_read_only':
    case 'standard_conforming_strings':
      return !on;
    case 'client_encoding':
      return !isUtf8Name(value);
    case 'search_path':
      return set.restricted && value.replace(/\s+/g, '').toLowerCase() !== set.searchPathText.replace(/\s+/g, '').toLowerCase();
    default:
      return false;
  }
}

function classifyText(sql: string): { outcome: Classified; constLocations: ReadonlySet<number> } {
  const p = parseAndClassify(sql);
  return p.ok ? { outcome: { ok: true, statements: p.statements }, constLocations: p.constLocations } : { outcome: { ok: false }, constLocations: new Set() };
}

/**
 * A classification may be shared by every text with the same literal-blind key only if it read no literal value
 * and every literal our scanner found is a constant at the same place in PostgreSQL's own parse tree (a runtime
 * cross-check of the scanner against the real one).
 */
function shareable(sql: string, norm: Normalized, statements: readonly StatementSummary[], consts: ReadonlySet<number>): boolean {
  if (statements.some((s) => s.literalDependent)) return false;
  return norm.literals.every((l) => {
    if (consts.has(l.start)) return true;
    let j = l.start - 1;
    while (j >= 0 && /\s/.test(sql[j] as string)) j--;
    return sql[j] === '-' && consts.has(j); // -5 is folded into one constant located at the sign
  });
}

function denial(v: Extract<RuleVerdict, { ok: false }>, sql: string): Denial {
  return {
    allow: false,
    sqlstate: '42501',
    message: `permission denied: role ${v.role} may not run ${v.privilege} on ${v.object}`,
    hint: v.hint,
    privilege: v.privilege,
    role: v.role,
    rule: v.rule,
    redactedSql: redactSql(sql),
  };
}

function unparseable(set: RoleSet, sql: string): AccessDecision {
  if (set.unparseableAllowed) {
    const role = set.roles.find((r) => r.allow.some((a) => a.privileges.has('all') && a.anyObject));
    return { allow: true, privilege: 'all', role: role?.name ?? null, cached: false };
  }
  return {
    allow: false,
    sqlstate: '42601',
    message: 'ysqlgate could not parse this statement',
    hint: null,
    privilege: 'unknown',
    role: set.names.join(', ') || null,
    rule: 'unparseable',
    redactedSql: redactSql(sql),
  };
}

type Prepared = ReadonlyMap<string, readonly Requirement[]>;

export type StatementResult = {
  readonly statement: StatementSummary;
  readonly requirements: readonly Requirement[];
  readonly verdict: RuleVerdict;
  readonly privilege: Privilege | 'always';
  readonly grants: readonly string[];
};

/** Decides one statement: its requirements (plus a prepared statement's for EXECUTE) and its function calls. */
export function decideStatement(set: RoleSet, s: StatementSummary, prepared: Prepared): StatementResult {
  const reqs: Requirement[] = [...s.requirements];
  if (s.execute !== null) {
    const p = prepared.get(s.execute);
    if (!p) {
      // Fail closed: we cannot tell what an unknown prepared statement does.
      const verdict: RuleVerdict = { ok: false, role: set.names.join(', '), rule: 'unknown-prepared-statement', hint: 'ysqlgate has not seen this prepared statement being prepared in this session', privilege: 'execute', object: `prepared statement ${s.execute}` };
      return { statement: s, requirements: reqs, verdict, privilege: 'execute', grants: [] };
    }
    reqs.push(...p);
  }
  let privilege: Privilege | 'always' = 'always';
  for (const r of reqs) if (RANK[r.privilege] > RANK[privilege]) privilege = r.privilege;
  const grants: string[] = [];
  let first: RuleVerdict = { ok: true, role: null, rule: null };
  const seen = new Set<string>();
  // Specific targets first, so a denial names the object rather than "any object".
  const ordered = [...reqs.filter((r) => r.target.kind !== 'any'), ...reqs.filter((r) => r.target.kind === 'any')];
  for (const r of ordered) {
    const k = JSON.stringify(r);
    if (seen.has(k)) continue;
    seen.add(k);
    const v = checkRequirement(set, r);
    if (!v.ok) return { statement: s, requirements: reqs, verdict: v, privilege, grants };
    if (v.rule !== null && !grants.includes(v.rule)) grants.push(v.rule);
    if (first.ok && first.role === null && v.role !== null) first = v;
  }
  for (const f of s.functions) {
    const v = checkCalledFunction(set, f, privilege === 'always' ? 'read' : privilege);
    if (!v.ok) return { statement: s, requirements: reqs, verdict: v, privilege, grants };
  }
  return { statement: s, requirements: reqs, verdict: first, privilege, grants };
}

function isSessionDependent(s: StatementSummary): boolean {
  return s.prepare !== null || s.execute !== null || s.deallocate !== undefined || s.discardAll;
}

class Guard implements SessionGuard {
  #policy: AccessPolicy;
  #set: RoleSet;
  readonly #database: string;
  #prepared = new Map<string, readonly Requirement[]>();

  constructor(policy: AccessPolicy, user: UserConfig, database: string) {
    this.#policy = policy;
    this.#set = policy.roleSet(user);
    this.#database = database;
  }

  get database(): string {
    return this.#database;
  }

  checkQuery(sql: string): AccessDecision {
    return this.#check(sql, null);
  }

  checkParse(statementName: string, sql: string): AccessDecision {
    return this.#check(sql, statementName);
  }

  checkFunctionCall(functionOid: number): AccessDecision {
    const set = this.#set;
    const oid = Number.isInteger(functionOid) ? functionOid : -1;
    const v = checkRequirement(set, { privilege: 'admin', target: { kind: 'unrestricted', what: `function call (oid ${oid})` } });
    if (!v.ok) return denial(v, '');
    return { allow: true, privilege: 'admin', role: v.role, cached: false };
  }

  rebind(policy: AccessPolicy, user: UserConfig): void {
    this.#policy = policy;
    this.#set = policy.roleSet(user);
  }

  #check(sql: string, parseName: string | null): AccessDecision {
    const set = this.#set;
    // A role set with an unrestricted `all` and no deny rule allows every statement, parseable or not:
    // inspection would change nothing, so it is skipped (and the parse cost with it).
    if (set.unparseableAllowed) return { allow: true, privilege: 'all', role: set.names.join('+') || null, cached: false };
    const { entry, cached } = this.#policy.lookup(sql);
    const outcome = entry.outcome;
    if (!outcome.ok) return unparseable(set, sql);
    const stmts = outcome.statements;
    if (stmts.length === 0) return { allow: true, privilege: 'always', role: null, cached };
    if (parseName !== null && stmts.length > 1) {
      return { allow: false, sqlstate: '42601', message: 'cannot insert multiple commands into a prepared statement', hint: null, privilege: 'unknown', role: null, rule: 'multiple-statements', redactedSql: redactSql(sql) };
    }
    const sessionDependent = stmts.some(isSessionDependent) || (parseName !== null && parseName !== '');
    const memoKey = parseName === null ? `Q${set.key}` : `P${set.key}`;
    if (!sessionDependent) {
      const memo = entry.decisions.get(memoKey);
      if (memo) return memo.allow ? { ...memo, cached: true } : { ...memo, redactedSql: redactSql(sql) };
    }
    const pending = new Map(this.#prepared);
    let privilege: Privilege | 'always' = 'always';
    let role: string | null = null;
    let last: readonly Requirement[] = [];
    for (const s of stmts) {
      const r = decideStatement(set, s, pending);
      if (!r.verdict.ok) {
        const d = denial(r.verdict, sql);
        if (!sessionDependent) entry.decisions.set(memoKey, d);
        return d;
      }
      if (RANK[r.privilege] > RANK[privilege]) privilege = r.privilege;
      role ??= r.verdict.role;
      applySessionEffects(s, r.requirements, pending);
      last = r.requirements;
    }
    if (parseName !== null && parseName !== '') remember(pending, parseName, last);
    this.#prepared = pending;
    const decision: AccessDecision = { allow: true, privilege, role, cached: false };
    if (!sessionDependent) entry.decisions.set(memoKey, decision);
    return cached ? { ...decision, cached: true } : decision;
  }
}

/** PREPARE/DEALLOCATE/DISCARD ALL as the server will apply them. */
export function applySessionEffects(s: StatementSummary, reqs: readonly Requirement[], prepared: Map<string, readonly Requirement[]>): void {
  if (s.prepare !== null) remember(prepared, s.prepare, reqs);
  if (s.deallocate !== undefined) {
    if (s.deallocate === null) prepared.clear();
    else prepared.delete(s.deallocate);
  }
  if (s.discardAll) prepared.clear();
}

function remember(prepared: Map<string, readonly Requirement[]>, name: string, reqs: readonly Requirement[]): void {
  // If the name is taken the server keeps the old statement (duplicate error); our record may be stale either way,
  // so keep both sets of requirements: EXECUTE must satisfy each.
  const old = prepared.get(name) ?? [];
  prepared.set(name, [...old, ...reqs]);
}
