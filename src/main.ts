// Composition root: config → logger and metrics → policy parser → listener and admin endpoint; reload and
// graceful shutdown. `runProxy` is what the CLI, the demo and the tests start.
import type { Config } from './config/types.js';
import { ConfigError, loadConfig } from './config/load.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { startAdminServer, type AdminServer } from './observability/admin.js';
import { initPolicyParser } from './policy/index.js';
import { buildGeneration, ProxyServer } from './server.js';
import { earliestExpiry } from './net/tls.js';
import { chooseReplica } from './net/peers.js';

export type RunningProxy = {
  readonly port: number;
  readonly adminPort: number | null;
  readonly server: ProxyServer;
  readonly metrics: Metrics;
  /** Applies a new config (as SIGHUP does); throws and keeps the old one when it cannot be applied. */
  reload(config: Config): void;
  /** Drains (up to `graceMs`, default 30 s) and stops everything. */
  close(graceMs?: number): Promise<void>;
};

export type RunOptions = {
  logger?: Logger;
  metrics?: Metrics;
  /** false: a server that never offers SCRAM-SHA-256-PLUS (for testing clients' downgrade protection; no config key). */
  offerChannelBinding?: boolean;
};

export async function runProxy(config: Config, opts: RunOptions = {}): Promise<RunningProxy> {
  const logger = opts.logger ?? createLogger(config.log);
  const metrics = opts.metrics ?? new Metrics();
  await initPolicyParser();
  const server = new ProxyServer(buildGeneration(config), metrics, logger, { offerChannelBinding: opts.offerChannelBinding ?? true });
  recordCertificates(server, metrics);
  const port = await server.listen();
  // Cancel keys carry this replica's tag (net/peers.ts); health checks and discovery start now.
  server.cancels.setReplica(chooseReplica(config.peers, { host: config.listen.host, port }));
  server.endpoints.start();
  let admin: AdminServer | null = null;
  if (config.admin.listen) {
    admin = await startAdminServer(config.admin.listen, metrics, () => {
      if (server.isDraining) return { ready: false, reason: 'draining' };
      if (!server.endpoints.anyHealthy()) return { ready: false, reason: 'no healthy upstream endpoint' };
      return { ready: true, reason: 'listening' };
    });
  }
  logger.info({ event: 'proxy.listening', listen: `${config.listen.host}:${port}`, admin: admin ? `${config.admin.listen!.host}:${admin.port}` : null }, 'ysqlgate listening');
  let closing: Promise<void> | null = null;
  return {
    port,
    adminPort: admin?.port ?? null,
    server,
    metrics,
    reload(next: Config) {
      try {
        server.reload(buildGeneration(next));
        recordCertificates(server, metrics);
        metrics.configReloads.inc({ result: 'success' });
        logger.info({ event: 'config.reloaded' }, 'configuration reloaded');
      } catch (err) {
        metrics.configReloads.inc({ result: 'failure' });
        logger.error({ event: 'config.rejected', reason: 'unusable', error: (err as Error).message }, 'configuration rejected');
        throw err;
      }
    },
    close(graceMs = 30_000) {
      closing ??= (async () => {
        await server.drain(graceMs);
        server.endpoints.stop();
        await admin?.close();
        logger.info({ event: 'proxy.stopped' }, 'ysqlgate stopped');
      })();
      return closing;
    },
  };
}

function recordCertificates(server: ProxyServer, metrics: Metrics): void {
  const tls = buildGenerationCertInfo(server);
  metrics.certificateExpiry.reset(); // a certificate dropped from the config must not linger
  for (const [name, date] of tls) metrics.certificateExpiry.set({ certificate: name }, Math.floor(date.getTime() / 1000));
}

function buildGenerationCertInfo(server: ProxyServer): Array<[string, Date]> {
  const info = server.listenerTlsInfo();
  const out: Array<[string, Date]> = [['server', info.certificateNotAfter]];
  if (info.clientCANotAfter) out.push(['client_ca', info.clientCANotAfter]);
  const upstreamCa = server.upstreamTlsInfo().ca;
  const upstreamNotAfter = upstreamCa ? earliestExpiry(upstreamCa) : null;
  if (upstreamNotAfter) out.push(['upstream_ca', upstreamNotAfter]);
  return out;
}

/** Re-reads `file` and applies it (SIGHUP); a bad file is logged and counted, and the old config kept. */
export function reloadFromFile(proxy: RunningProxy, file: string, logger: Logger): void {
  let next: Config;
  try {
    next = loadConfig(file);
  } catch (err) {
    proxy.metrics.configReloads.inc({ result: 'failure' });
    const problems = err instanceof ConfigError ? err.problems : [{ path: '', message: 'unreadable configuration' }];
    logger.error({ event: 'config.rejected', reason: 'invalid', problems }, 'configuration rejected');
    return;
  }
  try {
    proxy.reload(next);
  } catch {
    // logged and counted by reload(); the old configuration keeps serving
  }
}

/** Serves until SIGTERM/SIGINT; SIGHUP reloads from `file`. */
export async function serve(file: string): Promise<void> {
  const config = loadConfig(file);
  const logger = createLogger(config.log);
  const proxy = await runProxy(config, { logger });
  process.on('SIGHUP', () => reloadFromFile(proxy, file, logger));
  const stop = (signal: string): void => {
    logger.info({ event: 'proxy.draining', signal }, 'draining sessions');
    void proxy.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
