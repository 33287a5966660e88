// Classifies SQL with the real PostgreSQL 15 parser (libpg-query): per statement, the privileges it needs and on what.
// The only file that imports the parser. Walks the WHOLE tree (CTEs, sub-selects, set operations); never logs.
import { loadModule, parseSync } from 'libpg-query';
import type { Privilege } from '../config/types.js';
import { functionRequirements, PROTECTED_SETTINGS, isUtf8Name } from './builtins.js';

export type ObjectRef = { readonly schema: string | null; readonly name: string };

// What a requirement is about. 'any': the privilege at all (e.g. SELECT 1, NOTIFY); 'unrestricted': something the
// rules cannot scope to an object (DO, unknown DDL target), so only rules without object limits grant it.
export type Target =
  | { readonly kind: 'any' }
  | { readonly kind: 'unrestricted'; readonly what: string }
  | { readonly kind: 'object'; readonly ref: ObjectRef }
  | { readonly kind: 'function'; readonly name: string }
  | { readonly kind: 'setting'; readonly name: string }
  | { readonly kind: 'read-write-transaction' };

export type Requirement = { readonly privilege: Exclude<Privilege, 'all'>; readonly target: Target };

export type StatementSummary = {
  readonly kind: string; // parse node name, e.g. SelectStmt
  readonly privilege: Privilege | 'always';
  readonly requirements: readonly Requirement[];
  readonly reads: readonly ObjectRef[];
  readonly writes: readonly ObjectRef[]; // write and ddl targets
  readonly functions: readonly string[]; // as written, lower-cased, schema-qualified when qualified
  readonly protectedSettings: readonly string[];
  readonly literalDependent: boolean; // the verdict read a literal value: never share it across literal values
  readonly prepare: string | null; // PREPARE name (requirements are the inner statement's)
  readonly execute: string | null; // EXECUTE name: the session adds the prepared statement's requirements
  readonly deallocate: string | null | undefined; // name, null = ALL, undefined = not a DEALLOCATE
  readonly discardAll: boolean;
  readonly location: number;
  readonly length: number; // 0 = to the end
};

export type ParseOutcome =
  | { readonly ok: true; readonly statements: readonly StatementSummary[]; readonly constLocations: ReadonlySet<number> }
  | { readonly ok: false; readonly message: string };

let loaded: Promise<void> | null = null;
let ready = false;

export async function initParser(): Promise<void> {
  loaded ??= loadModule().then(() => {
    ready = true;
  });
  await loaded;
}

export class ParserNotLoadedError extends Error {
  constructor() {
    super('initPolicyParser() must complete before statements are checked');
    this.name = 'ParserNotLoadedError';
  }
}

/** The raw parse tree; exported for the differential tests only. */
export function parseTree(sql: string): unknown {
  if (!ready) throw new ParserNotLoadedError();
  return parseSync(sql);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
const str = (v: Json | undefined): string | null => (typeof v === 'string' ? v : null);

export function parseAndClassify(sql: string): ParseOutcome {
  if (!ready) throw new ParserNotLoadedError();
  if (sql === '') return { ok: true, statements: [], constLocations: new Set() }; // the parser refuses ''
  let tree: unknown;
  try {
    tree = parseSync(sql);
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : 'parse error' };
  }
  if (!isObj(tree)) return { ok: false, message: 'no parse tree' };
  const statements: StatementSummary[] = [];
  for (const raw of arr(tree['stmts'])) {
    if (!isObj(raw) || !isObj(raw['stmt'])) return { ok: false, message: 'unexpected raw statement' };
    const loc = typeof raw['stmt_location'] === 'number' ? raw['stmt_location'] : 0;
    const len = typeof raw['stmt_len'] === 'number' ? raw['stmt_len'] : 0;
    statements.push(classifyStatement(raw['stmt'], loc, len));
  }
  const constLocations = new Set<number>();
  collectConstLocations(tree as Json, constLocations);
  return { ok: true, statements, constLocations };
}

function collectConstLocations(node: Json, out: Set<number>): void {
  if (Array.isArray(node)) {
    for (const n of node) collectConstLocations(n, out);
  } else if (isObj(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'A_Const' && isObj(v) && typeof v['location'] === 'number') out.add(v['location']);
      collectConstLocations(v, out);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

const RANK: Record<Privilege | 'always', number> = { always: 0, read: 1, write: 2, execute: 3, ddl: 4, admin: 5, all: 6 };

/** Accumulates what one statement needs while the walker visits its tree. */
class Collector {
  readonly reqs: Requirement[] = [];
  readonly functions: string[] = [];
  readonly settings: string[] = [];
  literalDependent = false;
  prepare: string | null = null;
  execute: string | null = null;
  deallocate: string | null | undefined = undefined;
  discardAll = false;
  need(privilege: Exclude<Privilege, 'all'>, target: Target): void {
    this.reqs.push({ privilege, target });
  }
  object(privilege: Exclude<Privilege, 'all'>, ref: ObjectRef): void {
    this.need(privilege, { kind: 'object', ref });
  }
}

type Scope = ReadonlySet<string>; // CTE names visible here (unqualified relation names that are not objects)
const NO_CTES: Scope = new Set();

// Relation mode for RangeVars met by the generic walk below a node.
type RelMode = 'read' | 'lock';

function classifyStatement(stmt: Obj, location: number, length: number): StatementSummary {
  const c = new Collector();
  const kind = Object.keys(stmt)[0] ?? 'Unknown';
  statement(stmt, c, NO_CTES);
  if (kind !== 'ExplainStmt') backstop(stmt, c); // EXPLAIN runs its own on the inner query, before downgrading
  let privilege: Privilege | 'always' = 'always';
  for (const r of c.reqs) if (RANK[r.privilege] > RANK[privilege]) privilege = r.privilege;
  const reads: ObjectRef[] = [];
  const writes: ObjectRef[] = [];
  for (const r of c.reqs) {
    if (r.target.kind !== 'object') continue;
    (r.privilege === 'read' ? reads : writes).push(r.target.ref);
  }
  return {
    kind,
    privilege,
    requirements: c.reqs,
    reads,
    writes,
    functions: c.functions,
    protectedSettings: c.settings,
    literalDependent: c.literalDependent,
    prepare: c.prepare,
    execute: c.execute,
    deallocate: c.deallocate,
    discardAll: c.discardAll,
    location,
    length,
  };
}

// Belt and braces: if any DML node or locking clause sits anywhere in the tree but the walk produced no write,
// require an unrestricted write. Cheap, and it catches a node shape the structured walk might miss.
function backstop(stmt: Json, c: Collector): void {
  if (c.reqs.some((r) => RANK[r.privilege] >= RANK.write)) return;
  if (containsWrite(stmt)) c.need('write', { kind: 'unrestricted', what: 'data modification' });
}

function containsWrite(node: Json): boolean {
  if (Array.isArray(node)) return node.some(containsWrite);
  if (!isObj(node)) return false;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'InsertStmt' || k === 'UpdateStmt' || k === 'DeleteStmt' || k === 'MergeStmt') return true;
    if (k === 'lockingClause' && arr(v).length > 0) return true;
    if (k === 'intoClause' && isObj(v)) return true;
    if (containsWrite(v)) return true;
  }
  return false;
}

function statement(wrapped: Obj, c: Collector, scope: Scope): void {
  const [kind, body] = Object.entries(wrapped)[0] ?? ['', null];
  if (!isObj(body)) {
    c.need('admin', { kind: 'unrestricted', what: 'unknown statement' });
    return;
  }
  const handler = HANDLERS[kind];
  if (handler) handler(body, c, scope);
  else if (ADMIN_STATEMENTS.has(kind)) adminStatement(body, c, scope);
  else if (DDL_STATEMENTS.has(kind)) ddlStatement(kind, body, c, scope);
  else if (ALWAYS_STATEMENTS.has(kind)) walk(body, c, scope, 'read');
  else adminStatement(body, c, scope); // unknown statement kinds fail closed
}

function adminStatement(body: Obj, c: Collector, scope: Scope): void {
  c.need('admin', { kind: 'unrestricted', what: 'administration' });
  walk(body, c, scope, 'read');
}

type Handler = (body: Obj, c: Collector, scope: Scope) => void;

const ALWAYS_STATEMENTS = new Set(['VariableShowStmt', 'ConstraintsSetStmt']);

const ADMIN_STATEMENTS = new Set([
  'CreateRoleStmt', 'AlterRoleStmt', 'AlterRoleSetStmt', 'DropRoleStmt', 'GrantStmt', 'GrantRoleStmt',
  'AlterDefaultPrivilegesStmt', 'AlterSystemStmt', 'CreatedbStmt', 'AlterDatabaseStmt', 'AlterDatabaseSetStmt',
  'AlterDatabaseRefreshCollStmt', 'DropdbStmt', 'CreateTableSpaceStmt', 'DropTableSpaceStmt',
  'AlterTableSpaceOptionsStmt', 'AlterTableMoveAllStmt', 'CreateExtensionStmt', 'AlterExtensionStmt',
  'AlterExtensionContentsStmt', 'VacuumStmt', 'CheckPointStmt', 'LoadStmt', 'ClusterStmt', 'DropOwnedStmt',
  'ReassignOwnedStmt', 'AlterOwnerStmt', 'SecLabelStmt', 'CreateEventTrigStmt', 'AlterEventTrigStmt',
  'CreatePLangStmt', 'CreateAmStmt', 'CreateFdwStmt', 'AlterFdwStmt', 'CreateForeignServerStmt',
  'AlterForeignServerStmt', 'CreateUserMappingStmt', 'AlterUserMappingStmt', 'DropUserMappingStmt',
  'ImportForeignSchemaStmt', 'CreatePublicationStmt', 'AlterPublicationStmt', 'CreateSubscriptionStmt',
  'AlterSubscriptionStmt', 'DropSubscriptionStmt', 'CreateConversionStmt', 'CreateTransformStmt',
  'CreateCastStmt', 'CreateOpClassStmt', 'CreateOpFamilyStmt', 'AlterOpFamilyStmt', 'PLAssignStmt',
]);

const DDL_STATEMENTS = new Set([
  'CreateStmt', 'ViewStmt', 'IndexStmt', 'CreateSeqStmt', 'AlterSeqStmt', 'AlterTableStmt', 'DropStmt',
  'TruncateStmt', 'CommentStmt', 'RefreshMatViewStmt', 'ReindexStmt', 'CreateFunctionStmt', 'AlterFunctionStmt',
  'DefineStmt', 'CompositeTypeStmt', 'CreateEnumStmt', 'CreateRangeStmt', 'AlterEnumStmt', 'CreateSchemaStmt',
  'RenameStmt', 'AlterObjectSchemaStmt', 'RuleStmt', 'CreateTrigStmt', 'CreateDomainStmt', 'AlterDomainStmt',
  'CreatePolicyStmt', 'AlterPolicyStmt', 'CreateStatsStmt', 'AlterStatsStmt', 'CreateForeignTableStmt',
  'AlterTypeStmt', 'AlterCollationStmt', 'AlterTSDictionaryStmt', 'AlterTSConfigurationStmt',
  'AlterObjectDependsStmt', 'AlterOperatorStmt', 'CreateTableAsStmt',
]);

// Fields holding the relation a DDL statement creates or changes (the rest of its RangeVars are reads).
const DDL_TARGET_FIELDS: Record<string, readonly string[]> = {
  CreateStmt: ['relation'], ViewStmt: ['view'], IndexStmt: ['relation'], CreateSeqStmt: ['sequence'],
  AlterSeqStmt: ['sequence'], AlterTableStmt: ['relation'], TruncateStmt: ['relations'],
  RefreshMatViewStmt: ['relation'], ReindexStmt: ['relation'], CompositeTypeStmt: ['typevar'],
  RenameStmt: ['relation'], AlterObjectSchemaStmt: ['relation'], RuleStmt: ['relation'], CreateTrigStmt: ['relation'],
  CreatePolicyStmt: ['table'], AlterPolicyStmt: ['table'], CreateStatsStmt: ['relations'],
  CreateForeignTableStmt: ['base'],
};

const RELATION_OBJECT_TYPES = new Set([
  'OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_INDEX', 'OBJECT_SEQUENCE', 'OBJECT_FOREIGN_TABLE',
]);

function ddlStatement(kind: string, body: Obj, c: Collector, scope: Scope): void {
  const before = c.reqs.length;
  if (kind === 'CreateTableAsStmt') {
    const into = body['into'];
    if (isObj(into) && isObj(into['rel'])) c.object('ddl', rangeVarRef(into['rel']));
    queryOrStatement(body['query'], c, scope);
    if (!hasDdlSince(c, before)) c.need('ddl', { kind: 'unrestricted', what: 'schema object' });
    return;
  }
  if (kind === 'CreateSchemaStmt') {
    const name = str(body['schemaname']);
    c.need('ddl', name ? { kind: 'object', ref: { schema: name, name: '*' } } : { kind: 'unrestricted', what: 'schema' });
    for (const elt of arr(body['schemaElts'])) if (isObj(elt)) statement(elt, c, scope);
    return;
  }
  const targets = new Set(DDL_TARGET_FIELDS[kind] ?? []);
  for (const f of targets) {
    for (const rv of Array.isArray(body[f]) ? arr(body[f]) : [body[f] ?? null]) {
      const ref = isObj(rv) ? (isObj(rv['RangeVar']) ? rv['RangeVar'] : rv) : null;
      if (ref && typeof ref['relname'] === 'string') c.object('ddl', rangeVarRef(ref));
      else if (isObj(ref) && isObj(ref['relation'])) c.object('ddl', rangeVarRef(ref['relation'])); // CreateStmt base
    }
  }
  if ((kind === 'DropStmt' && RELATION_OBJECT_TYPES.has(str(body['removeType']) ?? '')) || kind === 'CommentStmt') {
    for (const ref of namedObjects(kind, body)) c.object('ddl', ref);
  }
  if (!hasDdlSince(c, before)) c.need('ddl', { kind: 'unrestricted', what: 'schema object' });
  for (const [k, v] of Object.entries(body)) {
    if (targets.has(k)) continue;
    if (k === 'query' && isObj(v)) queryOrStatement(v, c, scope);
    else walk(v, c, scope, 'read');
  }
}

function hasDdlSince(c: Collector, from: number): boolean {
  return c.reqs.slice(from).some((r) => r.privilege === 'ddl');
}

function namedObjects(kind: string, body: Obj): ObjectRef[] {
  const lists: Json[] = kind === 'DropStmt' ? arr(body['objects']) : [body['object'] ?? null];
  const objtype = str(body['objtype']);
  if (kind === 'CommentStmt' && objtype !== 'OBJECT_COLUMN' && !RELATION_OBJECT_TYPES.has(objtype ?? '')) return [];
  const out: ObjectRef[] = [];
  for (const l of lists) {
    const items = isObj(l) && isObj(l['List']) ? arr(l['List']['items']) : [];
    let names = items.map((i) => (isObj(i) && isObj(i['String']) ? str(i['String']['sval']) : null));
    if (objtype === 'OBJECT_COLUMN') names = names.slice(0, -1);
    if (names.some((n) => n === null) || names.length === 0) continue;
    const parts = names as string[];
    const name = parts[parts.length - 1] as string;
    out.push({ schema: parts.length >= 2 ? (parts[parts.length - 2] as string) : null, name });
  }
  return out;
}

function rangeVarRef(rv: Obj): ObjectRef {
  const schema = str(rv['schemaname']);
  const persistence = str(rv['relpersistence']);
  return { schema: schema ?? (persistence === 't' ? 'pg_temp' : null), name: str(rv['relname']) ?? '' };
}

/** A wrapped statement or query node (SelectStmt, InsertStmt, ...), classified with its own rules. */
function queryOrStatement(node: Json | undefined, c: Collector, scope: Scope): void {
  if (isObj(node)) statement(node, c, scope);
}

// -- generic walk ------------------------------------------------------------------------------------------------

function walk(node: Json | undefined, c: Collector, scope: Scope, mode: RelMode): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, c, scope, mode);
    return;
  }
  if (!isObj(node)) return;
  const keys = Object.keys(node);
  const only = keys.length === 1 ? (keys[0] as string) : null;
  if (only !== null && /^[A-Z]/.test(only) && isObj(node[only])) {
    wrappedNode(only, node[only] as Obj, node, c, scope, mode);
    return;
  }
  // Unwrapped typed fields (RangeVar*, FuncCall*, SelectStmt* of set operations) have no wrapper: recognise by shape.
  if (typeof node['relname'] === 'string') rangeVar(node, c, scope, mode);
  else if (Array.isArray(node['funcname']) && 'funcformat' in node) funcCall(node, c, scope, mode);
  else if (looksLikeSelect(node)) selectStmt(node, c, scope, mode);
  else for (const v of Object.values(node)) walk(v, c, scope, mode);
}

function looksLikeSelect(o: Obj): boolean {
  return typeof o['op'] === 'string' && typeof o['limitOption'] === 'string';
}

function wrappedNode(kind: string, body: Obj, wrapper: Obj, c: Collector, scope: Scope, mode: RelMode): void {
  switch (kind) {
    case 'RangeVar':
      rangeVar(body, c, scope, mode);
      return;
    case 'FuncCall':
      funcCall(body, c, scope, mode);
      return;
    case 'SelectStmt':
      selectStmt(body, c, scope, mode);
      return;
    default:
      if (/Stmt$/.test(kind)) statement(wrapper, c, scope); // DML in a CTE, EXPLAIN's query, ...
      else for (const v of Object.values(body)) walk(v, c, scope, mode);
  }
}

function rangeVar(rv: Obj, c: Collector, scope: Scope, mode: RelMode): void {
  const ref = rangeVarRef(rv);
  if (ref.schema === null && str(rv['catalogname']) === null && scope.has(ref.name)) return; // a CTE, not an object
  c.object('read', ref);
  if (mode === 'lock') c.object('write', ref);
}

function funcCall(fc: Obj, c: Collector, scope: Scope, mode: RelMode): void {
  const parts = arr(fc['funcname']).map((p) => (isObj(p) && isObj(p['String']) ? str(p['String']['sval']) : null));
  const name = parts.every((p) => p !== null) ? (parts as string[]).join('.').toLowerCase() : '?';
  c.functions.push(name);
  const base = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : name;
  const args = arr(fc['args']);
  const fr = functionRequirements(base, args.map(literalArg));
  for (const r of fr.requirements) c.need(r.privilege, r.target);
  for (const s of fr.settings) c.settings.push(s);
  if (fr.literalDependent) c.literalDependent = true;
  walk(fc['args'], c, scope, mode);
  walk(fc['agg_filter'], c, scope, mode);
  walk(fc['agg_order'], c, scope, mode);
  walk(fc['over'], c, scope, mode);
}

/** The value of a string literal argument (also under a cast such as 'x'::regclass), or null. */
function literalArg(arg: Json): string | null {
  if (!isObj(arg)) return null;
  if (isObj(arg['TypeCast'])) return literalArg(arg['TypeCast']['arg'] ?? null);
  if (isObj(arg['A_Const']) && isObj(arg['A_Const']['sval'])) return str(arg['A_Const']['sval']['sval']) ?? '';
  return null;
}

function withScope(withClause: Json | undefined, c: Collector, scope: Scope, mode: RelMode): Scope {
  if (!isObj(withClause)) return scope;
  const ctes = arr(withClause['ctes']).map((n) => (isObj(n) && isObj(n['CommonTableExpr']) ? n['CommonTableExpr'] : null));
  const names = ctes.map((cte) => (cte ? str(cte['ctename']) : null)).filter((n): n is string => n !== null);
  const all = new Set([...scope, ...names]);
  const recursive = withClause['recursive'] === true;
  // A non-recursive CTE sees only the CTEs before it: a later sibling's name there is a real table.
  const visible = new Set(scope);
  for (const cte of ctes) {
    if (!cte) continue;
    queryOrWalk(cte['ctequery'], c, recursive ? all : visible, mode);
    const n = str(cte['ctename']);
    if (n) visible.add(n);
  }
  return all;
}

function queryOrWalk(node: Json | undefined, c: Collector, scope: Scope, mode: RelMode): void {
  if (isObj(node) && isObj(node['SelectStmt'])) selectStmt(node['SelectStmt'], c, scope, mode);
  else if (isObj(node) && Object.keys(node).some((k) => k.endsWith('Stmt'))) statement(node, c, scope);
  else walk(node, c, scope, mode);
}

function selectStmt(s: Obj, c: Collector, outer: Scope, mode: RelMode): void {
  const scope = withScope(s['withClause'], c, outer, 'read');
  const locking = arr(s['lockingClause']).length > 0;
  const into = s['intoClause'];
  if (isObj(into) && isObj(into['rel'])) c.object('ddl', rangeVarRef(into['rel']));
  const fromMode: RelMode = locking ? 'lock' : mode;
  if (locking) c.need('write', { kind: 'any' });
  else c.need('read', { kind: 'any' });
  for (const [k, v] of Object.entries(s)) {
    if (k === 'withClause' || k === 'intoClause' || k === 'lockingClause') continue; // FOR UPDATE OF names aliases
    if (k === 'larg' || k === 'rarg') {
      if (isObj(v)) selectStmt(v, c, scope, fromMode);
    } else if (k === 'fromClause') walk(v, c, scope, fromMode);
    else walk(v, c, scope, mode);
  }
}

// -- statement handlers ------------------------------------------------------------------------------------------

function dmlTarget(rel: Json | undefined, c: Collector, returning: boolean): void {
  // A DML target is never resolved as a CTE by PostgreSQL, so no scope check here.
  if (!isObj(rel)) {
    c.need('write', { kind: 'unrestricted', what: 'data modification' });
    return;
  }
  const ref = rangeVarRef(rel);
  c.object('write', ref);
  if (returning) c.object('read', ref);
}

function dml(targetField: string): Handler {
  return (body, c, outer) => {
    const scope = withScope(body['withClause'], c, outer, 'read');
    c.need('write', { kind: 'any' });
    dmlTarget(body[targetField], c, arr(body['returningList']).length > 0);
    for (const [k, v] of Object.entries(body)) {
      if (k === targetField || k === 'withClause') continue;
      if (k === 'selectStmt' || k === 'sourceRelation') queryOrWalk(v, c, scope, 'read');
      else walk(v, c, scope, 'read');
    }
  };
}

const READ_WRITE_TARGET: Target = { kind: 'read-write-transaction' };

/** BEGIN/START/SET TRANSACTION options: anything but an explicit READ ONLY on transaction_read_only is READ WRITE. */
function transactionOptions(options: Json | undefined, c: Collector): void {
  for (const o of arr(options)) {
    const d = isObj(o) && isObj(o['DefElem']) ? o['DefElem'] : null;
    if (!d || str(d['defname']) !== 'transaction_read_only') continue;
    const a = isObj(d['arg']) && isObj(d['arg']['A_Const']) ? d['arg']['A_Const'] : null;
    const readOnly = a !== null && isObj(a['ival']) && a['ival']['ival'] === 1;
    if (!readOnly) c.need('write', READ_WRITE_TARGET);
  }
}

function variableSet(body: Obj, c: Collector): void {
  const kind = str(body['kind']);
  const name = (str(body['name']) ?? '').toLowerCase();
  if (kind === 'VAR_RESET_ALL') return; // resets to the session defaults, which include what we pinned at startup
  if (kind === 'VAR_SET_MULTI') {
    transactionOptions(body['args'], c);
    return;
  }
  c.literalDependent = true; // the verdict may depend on the value (client_encoding)
  if (name === 'client_encoding') {
    const args = arr(body['args']);
    const value = args.length === 1 ? literalArg(args[0] ?? null) : null;
    if (kind === 'VAR_RESET' || kind === 'VAR_SET_DEFAULT' || (kind === 'VAR_SET_VALUE' && value !== null && isUtf8Name(value))) return;
    c.settings.push(name);
    c.need('admin', { kind: 'setting', name });
    return;
  }
  if (PROTECTED_SETTINGS.has(name)) {
    c.settings.push(name);
    c.need('admin', { kind: 'setting', name });
  }
  walk(body['args'], c, NO_CTES, 'read');
}

const HANDLERS: Record<string, Handler> = {
  SelectStmt: (b, c, s) => selectStmt(b, c, s, 'read'),
  InsertStmt: dml('relation'),
  UpdateStmt: dml('relation'),
  DeleteStmt: dml('relation'),
  MergeStmt: dml('relation'),
  TransactionStmt: (b, c) => {
    const kind = str(b['kind']);
    if (kind === 'TRANS_STMT_COMMIT_PREPARED' || kind === 'TRANS_STMT_ROLLBACK_PREPARED') c.need('write', { kind: 'any' });
    transactionOptions(b['options'], c);
  },
  VariableSetStmt: (b, c) => variableSet(b, c),
  DeallocateStmt: (b, c) => {
    c.deallocate = str(b['name']);
  },
  DiscardStmt: (b, c) => {
    if (str(b['target']) === 'DISCARD_ALL') c.discardAll = true; // RESET ALL keeps startup parameters (verified)
  },
  ExplainStmt: (b, c, s) => {
    const analyze = arr(b['options']).some((o) => {
      const d = isObj(o) && isObj(o['DefElem']) ? o['DefElem'] : null;
      return d !== null && str(d['defname']) === 'analyze' && !isFalse(d['arg']);
    });
    const inner = new Collector();
    queryOrStatement(b['query'], inner, s);
    backstop(b['query'] ?? null, inner);
    // Plain EXPLAIN plans but does not run: object writes become reads. Functions and settings keep their rank.
    for (const r of inner.reqs) {
      const downgrade = !analyze && r.target.kind !== 'function' && r.target.kind !== 'setting' && (r.privilege === 'write' || r.privilege === 'ddl');
      c.need(downgrade ? 'read' : r.privilege, r.target);
    }
    if (inner.reqs.length === 0) c.need('read', { kind: 'any' });
    mergeSideFields(inner, c);
  },
  PrepareStmt: (b, c, s) => {
    c.prepare = str(b['name']) ?? '';
    queryOrStatement(b['query'], c, s);
    walk(b['argtypes'], c, s, 'read');
  },
  ExecuteStmt: (b, c, s) => {
    c.execute = str(b['name']) ?? '';
    walk(b['params'], c, s, 'read');
  },
  DeclareCursorStmt: (b, c, s) => queryOrStatement(b['query'], c, s),
  FetchStmt: (_b, c) => c.need('read', { kind: 'any' }),
  ClosePortalStmt: (_b, c) => c.need('read', { kind: 'any' }),
  ListenStmt: (_b, c) => c.need('read', { kind: 'any' }),
  UnlistenStmt: (_b, c) => c.need('read', { kind: 'any' }),
  NotifyStmt: (_b, c) => c.need('write', { kind: 'any' }),
  LockStmt: (b, c) => {
    c.need('write', { kind: 'any' });
    for (const rv of arr(b['relations'])) if (isObj(rv) && isObj(rv['RangeVar'])) c.object('write', rangeVarRef(rv['RangeVar']));
    if (arr(b['relations']).length === 0) c.need('write', { kind: 'unrestricted', what: 'lock' });
  },
  DoStmt: (_b, c) => c.need('execute', { kind: 'unrestricted', what: 'anonymous code block' }),
  CallStmt: (b, c, s) => {
    const fc = b['funccall'];
    c.need('execute', { kind: 'any' });
    if (!isObj(fc)) return void c.need('execute', { kind: 'unrestricted', what: 'procedure' });
    const parts = arr(fc['funcname']).map((p) => (isObj(p) && isObj(p['String']) ? str(p['String']['sval']) : null));
    const name = parts.every((p) => p !== null) ? (parts as string[]).join('.').toLowerCase() : '?';
    c.functions.push(name);
    c.need('execute', { kind: 'function', name });
    walk(fc['args'], c, s, 'read');
  },
  CopyStmt: (b, c, s) => copyStmt(b, c, s),
  ReturnStmt: (b, c, s) => walk(b, c, s, 'read'), // RETURN in a SQL-standard function body
};

function mergeSideFields(inner: Collector, c: Collector): void {
  c.functions.push(...inner.functions);
  c.settings.push(...inner.settings);
  if (inner.literalDependent) c.literalDependent = true;
  if (inner.execute !== null) c.execute = inner.execute;
}

function isFalse(arg: Json | undefined): boolean {
  if (!isObj(arg)) return false;
  const s = isObj(arg['String']) ? str(arg['String']['sval']) : null;
  if (s !== null) return ['false', 'off', '0', 'no'].includes(s.toLowerCase());
  const a = isObj(arg['A_Const']) ? arg['A_Const'] : null;
  if (a && isObj(a['ival'])) return a['ival']['ival'] === undefined || a['ival']['ival'] === 0;
  if (a && isObj(a['boolval'])) return a['boolval']['boolval'] !== true;
  if (a && isObj(a['sval'])) return ['false', 'off', '0', 'no'].includes((str(a['sval']['sval']) ?? '').toLowerCase());
  return false;
}

function copyStmt(b: Obj, c: Collector, s: Scope): void {
  const isFrom = b['is_from'] === true;
  if (b['is_program'] === true || b['filename'] !== undefined) {
    c.literalDependent = true;
    c.need('admin', { kind: 'unrestricted', what: b['is_program'] === true ? 'COPY PROGRAM' : 'COPY file' });
  }
  const rel = b['relation'];
  if (isObj(rel)) {
    const ref = rangeVarRef(rel);
    if (isFrom) {
      c.need('write', { kind: 'any' });
      c.object('write', ref);
    } else {
      c.need('read', { kind: 'any' });
      c.object('read', ref);
    }
  } else if (isObj(b['query'])) {
    queryOrWalk(b['query'], c, s, 'read');
  } else {
    c.need('admin', { kind: 'unrestricted', what: 'COPY' });
  }
  walk(b['whereClause'], c, s, 'read');
  walk(b['options'], c, s, 'read');
}
