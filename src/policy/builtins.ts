// Built-in functions and settings with a security meaning: which privilege a call or a SET needs.
// Pure data and small helpers for classify.ts; knows nothing about roles.
import type { ObjectRef, Requirement } from './classify.js';

/** Settings that change how the rules or the parser see statements (PRODUCT "Access rules"). */
export const PROTECTED_SETTINGS: ReadonlySet<string> = new Set([
  'role',
  'session_authorization',
  'default_transaction_read_only',
  'transaction_read_only',
  'search_path', // protected only for users with object rules: rules.ts decides
  'standard_conforming_strings',
  'client_encoding', // protected only away from UTF8: classify.ts decides
]);

export function isUtf8Name(value: string): boolean {
  const v = value.toLowerCase().replace(/[-_\s]/g, '');
  return v === 'utf8' || v === 'unicode';
}

// Server files, processes, replication, WAL, configuration: admin.
const ADMIN_FUNCTIONS = new Set([
  'pg_read_file', 'pg_read_binary_file', 'pg_stat_file', 'pg_ls_dir', 'lo_import', 'lo_export',
  'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_promote',
  'pg_switch_wal', 'pg_create_restore_point', 'pg_start_backup', 'pg_stop_backup', 'pg_backup_start',
  'pg_backup_stop', 'pg_current_logfile', 'pg_log_backend_memory_contexts', 'pg_import_system_collations',
  'pg_nextoid', 'pg_drop_replication_slot', 'pg_create_physical_replication_slot',
  'pg_create_logical_replication_slot', 'pg_copy_physical_replication_slot', 'pg_copy_logical_replication_slot',
  'pg_replication_slot_advance', 'pg_stat_statements_reset',
  // execute SQL text they are given
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema',
  'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema', 'database_to_xml',
  'database_to_xmlschema', 'database_to_xml_and_xmlschema', 'ts_stat', 'ts_rewrite',
]);
const ADMIN_PREFIXES = [
  'pg_ls_', 'pg_file_', 'pg_read_', 'dblink', 'pg_replication_origin_', 'pg_logical_', 'pg_stat_reset',
  'pg_wal_replay_', 'binary_upgrade_',
];
// Read a table named by their first argument.
const TABLE_XML_FUNCTIONS = new Set(['table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema']);
const LARGE_OBJECT_WRITES = new Set(['loread', 'lowrite']);

export type FunctionVerdict = {
  readonly requirements: readonly Requirement[];
  readonly settings: readonly string[];
  readonly literalDependent: boolean;
};

const NONE: FunctionVerdict = { requirements: [], settings: [], literalDependent: false };

/** What calling built-in `name` (unqualified, lower case) needs; `args` are string-literal values or null. */
export function functionRequirements(name: string, args: ReadonlyArray<string | null>): FunctionVerdict {
  const fn = { kind: 'function', name } as const;
  if (ADMIN_FUNCTIONS.has(name) || ADMIN_PREFIXES.some((p) => name.startsWith(p))) {
    return { requirements: [{ privilege: 'admin', target: fn }], settings: [], literalDependent: false };
  }
  if (name.startsWith('lo_') || LARGE_OBJECT_WRITES.has(name)) {
    // Large objects are not covered by object rules: only an unrestricted write grants them.
    return { requirements: [{ privilege: 'write', target: { kind: 'unrestricted', what: `function ${name}` } }], settings: [], literalDependent: false };
  }
  if (name === 'pg_notify') return { requirements: [{ privilege: 'write', target: { kind: 'any' } }], settings: [], literalDependent: false };
  if (name === 'nextval' || name === 'setval') {
    const ref = args[0] !== undefined && args[0] !== null ? parseQualifiedName(args[0]) : null;
    const target = ref ? ({ kind: 'object', ref } as const) : ({ kind: 'unrestricted', what: `function ${name}` } as const);
    return { requirements: [{ privilege: 'write', target: { kind: 'any' } }, { privilege: 'write', target }], settings: [], literalDependent: true };
  }
  if (name === 'set_config') {
    const setting = args[0] !== undefined && args[0] !== null ? args[0].toLowerCase() : null;
    if (setting === null) {
      // A computed name could be anything: fail closed.
      return { requirements: [{ privilege: 'admin', target: { kind: 'setting', name: '(computed)' } }], settings: ['(computed)'], literalDependent: true };
    }
    if (setting === 'client_encoding') {
      const value = args[1];
      if (value !== undefined && value !== null && isUtf8Name(value)) return { ...NONE, literalDependent: true };
    }
    if (PROTECTED_SETTINGS.has(setting)) {
      return { requirements: [{ privilege: 'admin', target: { kind: 'setting', name: setting } }], settings: [setting], literalDependent: true };
    }
    return { ...NONE, literalDependent: true };
  }
  if (TABLE_XML_FUNCTIONS.has(name)) {
    const ref = args[0] !== undefined && args[0] !== null ? parseQualifiedName(args[0]) : null;
    const requirements: Requirement[] = ref
      ? [{ privilege: 'read', target: { kind: 'object', ref } }]
      : [{ privilege: 'admin', target: fn }];
    return { requirements, settings: [], literalDependent: true };
  }
  return NONE;
}

/**
 * Parses a relation name the way regclass input does: `a.b`, `"A".b`; unquoted parts are lower-cased.
 * Returns null for anything unusual (the caller then fails closed).
 */
export function parseQualifiedName(text: string): ObjectRef | null {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i <= s.length) {
    if (s[i] === '"') {
      let j = i + 1;
      let out = '';
      for (;;) {
        if (j >= s.length) return null;
        if (s[j] === '"') {
          if (s[j + 1] === '"') {
            out += '"';
            j += 2;
            continue;
          }
          break;
        }
        out += s[j];
        j++;
      }
      if (out === '') return null;
      parts.push(out);
      i = j + 1;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(s.slice(i));
      if (!m) return null;
      parts.push(m[0].toLowerCase());
      i += m[0].length;
    }
    if (i === s.length) break;
    if (s[i] !== '.') return null;
    i++;
  }
  if (parts.length === 1) return { schema: null, name: parts[0] as string };
  if (parts.length === 2) return { schema: parts[0] as string, name: parts[1] as string };
  if (parts.length === 3) return { schema: parts[1] as string, name: parts[2] as string }; // db.schema.rel
  return null;
}
