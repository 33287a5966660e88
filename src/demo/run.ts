// `ysqlgate demo`: a throwaway PostgreSQL (stand-in for YSQL) behind the proxy, with demo users and dev
// certificates, and ready-to-paste psql commands. Never for production: demo passwords are printed on screen.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../config/load.js';
import { runProxy, type RunningProxy } from '../main.js';
import { createLogger } from '../observability/logger.js';
import { ensureDevCertificates } from './certs.js';
import { startPostgres, type PgInstance } from './postgres.js';
import { banner, demoYaml } from './demo-config.js';
import { seedDemoDatabase } from './seed.js';

export { DEMO_USERS } from './demo-config.js';

export type DemoOptions = {
  proxyPort?: number; // default 5433 if free, else any free port
  adminPort?: number; // default 9187 if free, else any free port
  out?: NodeJS.WritableStream; // banner and logs; default stdout
  certsDir?: string; // default <package root>/certs
  handleSignals?: boolean; // default true: SIGINT/SIGTERM stop everything and exit 0
};

/** src/demo/run.ts and dist/demo/run.js both sit two levels below the package root. */
export function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

async function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

async function choosePort(wanted: number | undefined, preferred: number): Promise<number> {
  if (wanted !== undefined) return wanted;
  return (await portIsFree(preferred)) ? preferred : 0;
}

export async function runDemo(opts: DemoOptions = {}): Promise<{ stop(): Promise<void>; proxyPort: number; adminPort: number | null }> {
  const out = opts.out ?? process.stdout;
  const certsDir = opts.certsDir ?? path.join(packageRoot(), 'certs');
  const certs = await ensureDevCertificates(certsDir);
  const pgServer: PgInstance = await startPostgres({
    ssl: { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caCert },
    hba: ['hostssl all all 127.0.0.1/32 scram-sha-256'], // the upstream itself refuses plaintext
  });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-demo-'));
  let proxy: RunningProxy | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      try { await proxy?.close(2000); } finally {
        await pgServer.stop();
        fs.rmSync(workDir, { recursive: true, force: true });
      }
    })();
    return stopping;
  };
  try {
    const upstream = await seedDemoDatabase(pgServer);
    const yaml = demoYaml({
      proxyPort: await choosePort(opts.proxyPort, 5433), adminPort: await choosePort(opts.adminPort, 9187),
      pgPort: pgServer.port, certs: certsDir, caFile: certs.caCert,
    });
    const configFile = path.join(workDir, 'ysqlgate-demo.yaml');
    fs.writeFileSync(configFile, yaml, { mode: 0o600 });
    // Upstream secrets go to the config loader only, never into process.env (children would inherit them).
    const env = {
      ...process.env,
      YSQLGATE_DEMO_APP_RO: upstream.app_ro, YSQLGATE_DEMO_APP_RW: upstream.app_rw, YSQLGATE_DEMO_YB_ADMIN: upstream.yb_admin,
    };
    const config = parseConfig(yaml, { baseDir: workDir, env, sourceFile: configFile });
    const logger = createLogger(config.log, out);
    proxy = await runProxy(config, { logger });
    out.write(banner({ proxyPort: proxy.port, adminPort: proxy.adminPort, caFile: certs.caCert, configFile }));
  } catch (err) {
    await stop();
    throw err;
  }
  if (opts.handleSignals ?? true) {
    const onSignal = (): void => { void stop().finally(() => process.exit(0)); };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  return { stop, proxyPort: proxy.port, adminPort: proxy.adminPort };
}
