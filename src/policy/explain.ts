// Dry-run of the access rules for `ysqlgate explain`: a verdict per statement with privilege, objects and rule.
// Pure: builds lines and text, prints nothing.
import type { UserConfig } from '../config/types.js';
import { applySessionEffects, decideStatement, type AccessPolicy } from './access-policy.js';
import { parseAndClassify, type Requirement } from './classify.js';
import { candidates, formatRef } from './rules.js';

export type ExplainLine = {
  readonly index: number; // 1-based statement number; 0 for a database or parse verdict
  readonly sql: string;
  readonly allow: boolean;
  readonly privilege: string;
  readonly objects: readonly string[]; // "read public.t"
  readonly rule: string; // the deciding rule(s)
  readonly message: string | null;
  readonly hint: string | null;
};

export function explainStatements(policy: AccessPolicy, user: UserConfig, database: string, sql: string): ExplainLine[] {
  const set = policy.roleSet(user);
  if (!policy.mayOpenDatabase(user, database)) {
    return [{ index: 0, sql: '', allow: false, privilege: 'connect', objects: [], rule: 'databases', message: `permission denied for database ${database}`, hint: `no role of user ${user.name} lists database ${database}` }];
  }
  const parsed = parseAndClassify(sql);
  if (!parsed.ok) {
    const allow = set.unparseableAllowed;
    return [{ index: 0, sql: sql.trim(), allow, privilege: allow ? 'all' : 'unknown', objects: [], rule: allow ? 'unrestricted all' : 'unparseable', message: allow ? null : 'ysqlgate could not parse this statement', hint: parsed.message }];
  }
  const prepared = new Map<string, readonly Requirement[]>();
  return parsed.statements.map((s, i) => {
    const r = decideStatement(set, s, prepared);
    if (r.verdict.ok) applySessionEffects(s, r.requirements, prepared);
    const text = (s.length > 0 ? sql.slice(s.location, s.location + s.length) : sql.slice(s.location)).trim();
    const objects: string[] = [];
    for (const q of r.requirements) {
      if (q.target.kind !== 'object') continue;
      const line = `${q.privilege} ${candidates(set, q.target.ref).map(formatRef).join(' | ')}`;
      if (!objects.includes(line)) objects.push(line);
    }
    const v = r.verdict;
    return v.ok
      ? { index: i + 1, sql: text, allow: true, privilege: r.privilege, objects, rule: r.grants.join(', ') || 'always allowed', message: null, hint: null }
      : { index: i + 1, sql: text, allow: false, privilege: v.privilege, objects, rule: v.rule, message: `permission denied: role ${v.role} may not run ${v.privilege} on ${v.object}`, hint: v.hint };
  });
}

export function formatExplain(lines: readonly ExplainLine[]): string {
  const out: string[] = [];
  for (const l of lines) {
    const text = l.sql.length > 200 ? `${l.sql.slice(0, 197)}...` : l.sql;
    out.push(`${l.index > 0 ? `#${l.index} ` : ''}${l.allow ? 'ALLOW' : 'DENY'} ${l.privilege}${text ? `  ${text.replace(/\s+/g, ' ')}` : ''}`);
    if (l.objects.length > 0) out.push(`    objects: ${l.objects.join(', ')}`);
    out.push(`    rule: ${l.rule}`);
    if (l.message) out.push(`    ${l.message}`);
    if (l.hint) out.push(`    hint: ${l.hint}`);
  }
  if (lines.length > 1) out.push('A multi-statement query is allowed only if every statement is.');
  return `${out.join('\n')}\n`;
}
