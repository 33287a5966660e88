// Resolves upstream secrets ({ env: NAME } / { file: PATH }) of the users in the raw config.
// Reports what is missing by key, variable and file name only: a secret value never enters a message.
import fs from 'node:fs';
import path from 'node:path';
import type { UpstreamSecret } from './types.js';
import type { ConfigProblem } from './problem.js';

const MAX_SECRET_FILE = 65_536;

type Resolved = { readonly secrets: ReadonlyMap<number, UpstreamSecret>; readonly problems: ConfigProblem[] };
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);

function readSecretFile(file: string): { value: string } | { problem: string } {
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return { problem: `secret file ${file} is not a regular file` };
    if (stat.size > MAX_SECRET_FILE) return { problem: `secret file ${file} is larger than 64KiB` };
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { problem: `cannot read secret file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  return { value: text.replace(/\r?\n$/, '') }; // one trailing newline, as `echo` and editors leave it
}

function resolveOne(spec: Obj, baseDir: string, env: NodeJS.ProcessEnv): UpstreamSecret | { problem: string } | null {
  const keys = Object.keys(spec);
  if (keys.length !== 1) return null; // the schema reports the shape
  const envName = spec['env'];
  if (typeof envName === 'string') {
    const value = env[envName];
    if (value === undefined) return { problem: `environment variable ${envName} is not set` };
    if (value === '') return { problem: 'secret is empty' };
    return { kind: 'password', value, source: `env:${envName}` };
  }
  const file = spec['file'];
  if (typeof file === 'string' && file !== '') {
    const abs = path.resolve(baseDir, file);
    const read = readSecretFile(abs);
    if ('problem' in read) return read;
    if (read.value === '') return { problem: 'secret is empty' };
    return { kind: 'password', value: read.value, source: `file:${abs}` };
  }
  return null;
}

/** Secrets by user index; users without a resolvable secret are absent from the map. */
export function resolveSecrets(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv): Resolved {
  const secrets = new Map<number, UpstreamSecret>();
  const problems: ConfigProblem[] = [];
  const users = obj(raw)?.['users'];
  if (!Array.isArray(users)) return { secrets, problems };
  users.forEach((u: unknown, i) => {
    const spec = obj(obj(obj(u)?.['upstream'])?.['password']);
    if (spec === null) return;
    const result = resolveOne(spec, baseDir, env);
    if (result === null) return;
    if ('problem' in result) problems.push({ path: `users[${i}].upstream.password`, message: result.problem });
    else secrets.set(i, result);
  });
  return { secrets, problems };
}
