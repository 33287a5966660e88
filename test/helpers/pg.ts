// One throwaway PostgreSQL per test file, with TLS (test PKI) and the demo schema/roles seeded.
// Torn down with the root tap object so every subtest of the file can use it.
import tap from 'tap';
import { startPostgres, type PgInstance, type PgOptions } from '../../src/demo/postgres.js';
import { SEED_DATABASE, seedDemoDatabase, type UpstreamRoles } from '../../src/demo/seed.js';
import { testPki, type TestPki } from './pki.js';

export type SharedPg = PgInstance & {
  pki: TestPki;
  database: typeof SEED_DATABASE; // "yugabyte"
  upstream: UpstreamRoles; // passwords of app_ro, app_rw, yb_admin
};

export type SharedPgOptions = {
  ssl?: boolean; // default true: server.crt from the test PKI, root.crt = test CA
  logStatements?: boolean; // default true: readLog() shows what reached the server
  hba?: string[];
  settings?: Record<string, string>;
};

const instances = new Map<string, Promise<SharedPg>>();

/** `t` is accepted for symmetry with other helpers; teardown is registered on the root tap object. */
export function sharedPostgres(_t?: unknown, opts: SharedPgOptions = {}): Promise<SharedPg> {
  const key = JSON.stringify(opts);
  let p = instances.get(key);
  if (!p) {
    p = start(opts);
    instances.set(key, p);
    tap.teardown(async () => {
      const pg = await p!.catch(() => null);
      await pg?.stop();
    });
  }
  return p;
}

async function start(opts: SharedPgOptions): Promise<SharedPg> {
  const pki = await testPki();
  const pgOpts: PgOptions = {
    logStatements: opts.logStatements ?? true,
    ...(opts.ssl === false ? {} : { ssl: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.ca.certFile } }),
    ...(opts.hba ? { hba: opts.hba } : {}),
    ...(opts.settings ? { settings: opts.settings } : {}),
  };
  const server = await startPostgres(pgOpts);
  try {
    const upstream = await seedDemoDatabase(server);
    return Object.assign(server, { pki, database: SEED_DATABASE as typeof SEED_DATABASE, upstream });
  } catch (err) {
    await server.stop();
    throw err;
  }
}
