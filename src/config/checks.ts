// Checks that span keys (unique names, defined roles, clientCA for certificate users, passthrough rules).
// Work on the raw YAML value, type-guarded, so they still run and report when other parts fail the schema.
import type { ConfigProblem } from './problem.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function duplicates(items: unknown[], section: string, what: string, problems: ConfigProblem[]): Set<string> {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const name = str(obj(item)?.['name']);
    if (name === null) return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else problems.push({ path: `${section}[${i}].name`, message: `duplicate ${what} "${name}" (also ${section}[${first}])` });
  });
  return new Set(seen.keys());
}

function checkUser(user: Obj, at: string, roleNames: Set<string>, hasClientCA: boolean, problems: ConfigProblem[]): void {
  const auth = user['auth'] ?? 'scram';
  const upstreamPassword = obj(user['upstream'])?.['password'];
  list(user['roles']).forEach((role, j) => {
    if (typeof role === 'string' && !roleNames.has(role)) {
      problems.push({ path: `${at}.roles[${j}]`, message: `role "${role}" is not defined in roles` });
    }
  });
  if (auth === 'scram' && user['password'] === undefined) {
    problems.push({ path: `${at}.password`, message: 'is required for auth: scram' });
  }
  if (auth === 'cert') {
    if (user['password'] !== undefined) {
      problems.push({ path: `${at}.password`, message: 'auth: cert users must not have a password' });
    }
    if (!hasClientCA) problems.push({ path: `${at}.auth`, message: 'auth: cert requires tls.clientCA' });
    if (upstreamPassword === 'passthrough') {
      problems.push({
        path: `${at}.upstream.password`,
        message: 'passthrough needs a password from the client; use { env } or { file } with auth: cert',
      });
    }
  }
  if (user['clientCertificate'] === 'required' && !hasClientCA) {
    problems.push({ path: `${at}.clientCertificate`, message: 'required needs tls.clientCA' });
  }
}

/** Problems that involve more than one key; empty when the raw value is not even a mapping. */
export function semanticProblems(raw: unknown): ConfigProblem[] {
  const root = obj(raw);
  if (root === null) return [];
  const problems: ConfigProblem[] = [];
  const users = list(root['users']);
  const roles = list(root['roles']);
  duplicates(users, 'users', 'user', problems);
  const roleNames = duplicates(roles, 'roles', 'role', problems);
  const clientCA = obj(root['tls'])?.['clientCA'];
  const hasClientCA = typeof clientCA === 'string' && clientCA !== '';
  users.forEach((u, i) => {
    const user = obj(u);
    if (user !== null) checkUser(user, `users[${i}]`, roleNames, hasClientCA, problems);
  });
  return problems;
}
