// Compiles role rules once and decides single requirements against a user's role set (deny wins, no allow = deny).
// Knows nothing about SQL text; pure and immutable after construction.
import type { Privilege, RoleConfig } from '../config/types.js';
import { PG_CATALOG_RELATIONS } from './catalogs.js';
import { parseQualifiedName } from './builtins.js';
import type { ObjectRef, Requirement, Target } from './classify.js';

type ObjectPattern = { readonly schema: string | null; readonly name: string }; // '*' = any; schema null = any schema

export type CompiledRule = {
  readonly ref: string; // roles[reader].deny[0]
  readonly privileges: ReadonlySet<Privilege>;
  readonly objects: readonly ObjectPattern[];
  readonly objectsText: readonly string[];
  readonly functions: readonly RegExp[];
  readonly functionsText: readonly string[];
  readonly anyObject: boolean; // objects empty or '*'
};

export type CompiledRole = {
  readonly name: string;
  readonly databases: readonly string[];
  readonly allow: readonly CompiledRule[];
  readonly deny: readonly CompiledRule[];
};

/** The compiled view of one user's roles; everything a decision needs besides the statement. */
export type RoleSet = {
  readonly key: string;
  readonly names: readonly string[];
  readonly roles: readonly CompiledRole[];
  readonly readOnly: boolean;
  readonly restricted: boolean; // some rule names objects: search_path is pinned and protected
  readonly searchPath: readonly string[];
  readonly searchPathText: string;
  readonly unparseableAllowed: boolean;
};

export type RuleVerdict =
  | { readonly ok: true; readonly role: string | null; readonly rule: string | null }
  | {
      readonly ok: false;
      readonly role: string;
      readonly rule: string;
      readonly hint: string;
      readonly privilege: Privilege;
      readonly object: string;
    };

const CATALOG_SCHEMAS = new Set(['pg_catalog', 'information_schema']);
// Catalogs with password hashes, user-mapping secrets or server files: admin, whatever the read rules say.
const SENSITIVE = new Set([
  'pg_catalog.pg_authid', 'pg_catalog.pg_shadow', 'pg_catalog.pg_user_mapping', 'pg_catalog.pg_user_mappings',
  'pg_catalog.pg_hba_file_rules', 'pg_catalog.pg_file_settings', 'information_schema.user_mapping_options',
  'information_schema._pg_user_mappings', 'information_schema.user_mappings',
]);
const WRITE_LIKE: readonly Privilege[] = ['write', 'ddl', 'execute', 'admin', 'all'];

export function compileRoles(roles: readonly RoleConfig[]): ReadonlyMap<string, CompiledRole> {
  const out = new Map<string, CompiledRole>();
  for (const r of roles) {
    out.set(r.name, {
      name: r.name,
      databases: [...r.databases],
      allow: r.allow.map((rule, i) => compileRule(rule, `roles[${r.name}].allow[${i}]`)),
      deny: r.deny.map((rule, i) => compileRule(rule, `roles[${r.name}].deny[${i}]`)),
    });
  }
  return out;
}

function compileRule(rule: RoleConfig['allow'][number], ref: string): CompiledRule {
  return {
    ref,
    privileges: new Set(rule.privileges),
    objects: rule.objects.map(compileObjectPattern),
    objectsText: [...rule.objects],
    functions: rule.functions.map(globToRegExp),
    functionsText: [...rule.functions],
    anyObject: rule.objects.length === 0 || rule.objects.includes('*'),
  };
}

function compileObjectPattern(p: string): ObjectPattern {
  if (p === '*') return { schema: '*', name: '*' };
  if (p.endsWith('.*')) {
    const s = parseQualifiedName(p.slice(0, -2));
    return { schema: s && s.schema === null ? s.name : p.slice(0, -2), name: '*' };
  }
  const q = parseQualifiedName(p);
  return q ?? { schema: '\u0000never', name: '\u0000never' };
}

function globToRegExp(p: string): RegExp {
  const body = p.toLowerCase().split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

export function buildRoleSet(compiled: ReadonlyMap<string, CompiledRole>, names: readonly string[]): RoleSet {
  // Unknown role names contribute nothing (config validation should already reject them).
  const roles = names.map((n) => compiled.get(n)).filter((r): r is CompiledRole => r !== undefined);
  const allRules = roles.flatMap((r) => [...r.allow, ...r.deny]);
  const restricted = allRules.some((rule) => !rule.anyObject);
  const path: string[] = [];
  for (const rule of roles.flatMap((r) => r.allow)) {
    for (const p of rule.objects) {
      if (p.schema && p.schema !== '*' && !CATALOG_SCHEMAS.has(p.schema) && p.schema !== 'pg_temp' && !path.includes(p.schema)) path.push(p.schema);
    }
  }
  if (path.length === 0) path.push('public');
  const hasAll = roles.some((r) => r.allow.some((rule) => rule.privileges.has('all') && rule.anyObject && rule.functions.length === 0));
  return {
    key: names.join('\u0001'),
    names: roles.map((r) => r.name),
    roles,
    readOnly: !roles.some((r) => r.allow.some((rule) => WRITE_LIKE.some((p) => rule.privileges.has(p)))),
    restricted,
    searchPath: path,
    searchPathText: path.map(quoteIdent).join(', '),
    // Nothing can be checked inside a statement the parser cannot read: only an unrestricted `all` without any
    // deny rule in play may run it.
    unparseableAllowed: hasAll && roles.every((r) => r.deny.length === 0),
  };
}

export function quoteIdent(s: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`;
}

export function formatRef(ref: ObjectRef): string {
  return ref.schema === null ? ref.name : `${ref.schema}.${ref.name}`;
}

/** The schemas an unqualified relation name can mean, in PostgreSQL's order (pg_catalog first). */
export function candidates(set: RoleSet, ref: ObjectRef): ObjectRef[] {
  if (ref.schema !== null) return [ref];
  if (PG_CATALOG_RELATIONS.has(ref.name)) return [{ schema: 'pg_catalog', name: ref.name }];
  const path = set.restricted ? set.searchPath : ['public'];
  const list = path.map((schema) => ({ schema, name: ref.name }));
  if (ref.name.startsWith('pg_')) list.unshift({ schema: 'pg_catalog', name: ref.name });
  return list;
}

export function checkRequirement(set: RoleSet, req: Requirement): RuleVerdict {
  const t = req.target;
  if (t.kind === 'read-write-transaction') {
    if (!set.readOnly) return { ok: true, role: null, rule: null };
    return noAllow(set, 'write', 'READ WRITE transactions', 'roles may not write: sessions are read-only');
  }
  if (t.kind === 'setting' && t.name === 'search_path' && !set.restricted) return { ok: true, role: null, rule: null };
  if (t.kind === 'object') {
    let granted: RuleVerdict = { ok: true, role: null, rule: null };
    // Every schema the name may resolve to must be allowed: an ambiguity is never allowed.
    for (const ref of candidates(set, t.ref)) {
      const v = checkObject(set, req.privilege, ref);
      if (!v.ok) return v;
      granted = v;
    }
    return granted;
  }
  return checkOne(set, req.privilege, t, false, describe(t));
}

function checkObject(set: RoleSet, privilege: Exclude<Privilege, 'all'>, ref: ObjectRef): RuleVerdict {
  const text = formatRef(ref);
  const catalog = ref.schema !== null && CATALOG_SCHEMAS.has(ref.schema);
  const p = catalog && SENSITIVE.has(text) ? 'admin' : privilege;
  return checkOne(set, p, { kind: 'object', ref }, catalog && p === 'read', text);
}

function checkOne(set: RoleSet, privilege: Exclude<Privilege, 'all'>, t: Target, catalogRead: boolean, what: string): RuleVerdict {
  for (const role of set.roles) {
    for (const rule of role.deny) {
      if (denyMatches(rule, privilege, t)) {
        const scope = rule.functionsText.length > 0 ? `functions: ${rule.functionsText.join(', ')}` : rule.objectsText.length > 0 ? `objects: ${rule.objectsText.join(', ')}` : `privileges: ${rule.privileges.size > 0 ? [...rule.privileges].join(', ') : 'all'}`;
        return { ok: false, role: role.name, rule: rule.ref, hint: `denied by ${rule.ref} (${scope})`, privilege, object: what };
      }
    }
  }
  for (const role of set.roles) {
    for (const rule of role.allow) if (allowMatches(rule, privilege, t, catalogRead)) return { ok: true, role: role.name, rule: rule.ref };
  }
  return noAllow(set, privilege, what, null);
}

function noAllow(set: RoleSet, privilege: Privilege, what: string, extra: string | null): RuleVerdict {
  const role = set.names.length > 0 ? set.names.join(', ') : '(none)';
  const plural = set.names.length > 1 ? 'roles' : 'role';
  const hint = extra ?? `no allow rule of ${plural} ${role} grants ${privilege} on ${what}`;
  return { ok: false, role, rule: 'no-allow', hint, privilege, object: what };
}

function describe(t: Target): string {
  switch (t.kind) {
    case 'any':
      return 'any object';
    case 'unrestricted':
      return t.what;
    case 'function':
      return `function ${t.name}`;
    case 'setting':
      return `parameter ${t.name}`;
    case 'object':
      return formatRef(t.ref);
    case 'read-write-transaction':
      return 'READ WRITE transactions';
  }
}

function matchObject(p: ObjectPattern, ref: ObjectRef): boolean {
  if (p.schema === '*' && p.name === '*') return true;
  if (p.schema !== null && p.schema !== ref.schema) return false;
  return p.name === '*' || p.name === ref.name;
}

export function matchFunction(rule: CompiledRule, name: string): boolean {
  const base = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : name;
  return rule.functions.some((re, i) => {
    const text = rule.functionsText[i] ?? '';
    if (text.includes('.')) return re.test(name) || (!name.includes('.') && re.test(`pg_catalog.${name}`));
    return re.test(base);
  });
}

function allowMatches(rule: CompiledRule, privilege: Privilege, t: Target, catalogRead: boolean): boolean {
  if (!rule.privileges.has(privilege) && !rule.privileges.has('all')) return false;
  if (rule.functions.length > 0) return t.kind === 'any' || (t.kind === 'function' && matchFunction(rule, t.name));
  switch (t.kind) {
    case 'any':
      return true;
    case 'object':
      return catalogRead || rule.anyObject || rule.objects.some((p) => matchObject(p, t.ref));
    default:
      return rule.anyObject;
  }
}

function denyMatches(rule: CompiledRule, privilege: Privilege, t: Target): boolean {
  if (rule.privileges.size > 0 && !rule.privileges.has(privilege) && !rule.privileges.has('all')) return false;
  if (rule.functions.length > 0) return t.kind === 'function' && matchFunction(rule, t.name);
  if (t.kind === 'object') return rule.anyObject || rule.objects.some((p) => matchObject(p, t.ref));
  return rule.anyObject;
}

/** Deny rules with function patterns apply to every function a statement calls, whatever its privilege. */
export function checkCalledFunction(set: RoleSet, name: string, privilege: Privilege): RuleVerdict {
  for (const role of set.roles) {
    for (const rule of role.deny) {
      if (rule.functions.length === 0 || !matchFunction(rule, name)) continue;
      if (rule.privileges.size > 0 && !rule.privileges.has(privilege) && !rule.privileges.has('all')) continue;
      return { ok: false, role: role.name, rule: rule.ref, hint: `denied by ${rule.ref} (functions: ${rule.functionsText.join(', ')})`, privilege, object: `function ${name}` };
    }
  }
  return { ok: true, role: null, rule: null };
}
