// Multi-core serving (config `workers: N | auto`): a node:cluster primary forks N workers that share the
// listen port. The primary accepts no clients: it serves the admin endpoint (metrics aggregated from every
// worker with prom-client's AggregatorRegistry), forwards SIGHUP/SIGTERM/SIGINT, relays cancel requests that
// land on a worker not owning the key, and re-forks crashed workers. Workers run the ordinary runProxy.
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import client from 'prom-client';
import type { Config } from './config/types.js';
import { loadConfig } from './config/load.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { startAdminServer, type AdminServer } from './observability/admin.js';
import type { CancelResult } from './session/cancel.js';
import { reloadFromFile, runProxy, serve } from './main.js';

const CANCEL_RELAY_TIMEOUT_MS = 2000;
const DRAIN_GRACE_MS = 30_000;
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/** Messages between the primary and its workers (IPC, same host, same trust). */
type Message =
  | { type: 'ysqlgate:listening'; port: number }
  | { type: 'ysqlgate:cancel'; id: number; processId: number; secretKey: number } // worker → primary, and primary → sibling
  | { type: 'ysqlgate:cancel-result'; id: number; result: CancelResult } // sibling → primary, and primary → asking worker
  | { type: 'ysqlgate:reload' }
  | { type: 'ysqlgate:drain' };

const isMessage = (m: unknown): m is Message =>
  typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('ysqlgate:');

export function workerCount(setting: Config['workers']): number {
  return setting === 'auto' ? Math.max(1, os.availableParallelism()) : setting;
}

/** `ysqlgate serve`: one process for `workers: 1`, else a primary with N workers (this same entry point re-run). */
export async function serveWithWorkers(file: string): Promise<void> {
  if (cluster.isWorker) return runWorker(file);
  const config = loadConfig(file);
  const n = workerCount(config.workers);
  if (n <= 1) return serve(file);
  return runPrimary(file, config, n);
}

/** Several answers to one relayed cancel: one owner at most, so any non-unknown answer is the result. */
export function combineCancelResults(results: readonly CancelResult[]): CancelResult {
  if (results.includes('forwarded')) return 'forwarded';
  if (results.includes('failed')) return 'failed';
  return 'unknown';
}

// ---------------------------------------------------------------------------------------------- worker

async function runWorker(file: string): Promise<void> {
  const send = (m: Message): void => { if (process.connected) process.send!(m); };
  let config: Config;
  let logger: Logger;
  try {
    config = loadConfig(file);
    logger = createLogger(config.log).child({ worker: Number(process.env.YSQLGATE_WORKER ?? cluster.worker!.id) });
  } catch (err) {
    process.stderr.write(`ysqlgate worker: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const metrics = new Metrics();
  new client.AggregatorRegistry(); // installs the listener that answers the primary's metric requests
  client.AggregatorRegistry.setRegistries([metrics.registry]);
  let proxy: Awaited<ReturnType<typeof runProxy>>;
  try {
    proxy = await runProxy({ ...config, admin: { listen: null } }, { logger, metrics });
  } catch (err) {
    logger.error({ event: 'worker.failed', err: { message: (err as Error).message } }, 'worker could not start');
    process.exit(1);
  }
  const pending = new Map<number, (result: CancelResult) => void>();
  let nextId = 0;
  proxy.server.cancels.siblings = (processId, secretKey) => new Promise((resolve) => {
    const id = ++nextId;
    const timer = setTimeout(() => finish('unknown'), CANCEL_RELAY_TIMEOUT_MS);
    const finish = (result: CancelResult): void => {
      clearTimeout(timer);
      pending.delete(id);
      logger.debug({ event: 'cancel.relayed', result }, 'cancel request relayed to the other workers');
      resolve(result);
    };
    pending.set(id, finish);
    send({ type: 'ysqlgate:cancel', id, processId, secretKey });
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void proxy.close(DRAIN_GRACE_MS).then(() => process.exit(0));
  };
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    switch (m.type) {
      case 'ysqlgate:cancel':
        void proxy.server.cancels.cancel(m.processId, m.secretKey).then((result) => send({ type: 'ysqlgate:cancel-result', id: m.id, result }));
        return;
      case 'ysqlgate:cancel-result':
        pending.get(m.id)?.(m.result);
        return;
      case 'ysqlgate:reload':
        reloadFromFile(proxy, file, logger);
        return;
      case 'ysqlgate:drain':
        stop();
        return;
    }
  });
  // Signals go to the primary (Kubernetes, systemd); a terminal's Ctrl-C reaches the whole group. Either way, drain.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => undefined); // the primary forwards reloads: avoid reloading twice
  process.on('disconnect', stop); // the primary is gone: never outlive it
  send({ type: 'ysqlgate:listening', port: proxy.port });
}

// ---------------------------------------------------------------------------------------------- primary

async function runPrimary(file: string, config: Config, n: number): Promise<void> {
  const logger = createLogger(config.log).child({ worker: 'primary' });
  const aggregator = new client.AggregatorRegistry();
  const listening = new Set<number>();
  const restarts: number[] = [];
  let draining = false;
  let listenPort = 0;
  let announced = false;
  let admin: AdminServer | null = null;
  const index = new Map<number, number>(); // cluster worker id -> worker number (stable across restarts)

  const fork = (k: number): void => {
    const worker = cluster.fork({ YSQLGATE_WORKER: String(k) });
    index.set(worker.id, k);
  };
  const connected = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
  // Relayed cancels: asked of every sibling; the owner (at most one) answers forwarded or failed.
  const relays = new Map<number, { waiting: number; results: CancelResult[]; settle: () => void }>();
  let relayId = 0;
  const relayCancel = (from: Worker, m: Extract<Message, { type: 'ysqlgate:cancel' }>): void => {
    const reply = (result: CancelResult): void => {
      if (from.isConnected()) from.send({ type: 'ysqlgate:cancel-result', id: m.id, result } satisfies Message);
    };
    const siblings = connected().filter((w) => w !== from);
    if (siblings.length === 0) return reply('unknown');
    const id = ++relayId;
    const results: CancelResult[] = [];
    const timer = setTimeout(() => settle(), CANCEL_RELAY_TIMEOUT_MS);
    const settle = (): void => {
      if (!relays.delete(id)) return;
      clearTimeout(timer);
      reply(combineCancelResults(results));
    };
    relays.set(id, { waiting: siblings.length, results, settle });
    for (const w of siblings) w.send({ type: 'ysqlgate:cancel', id, processId: m.processId, secretKey: m.secretKey } satisfies Message);
  };
  const onCancelAnswer = (m: Extract<Message, { type: 'ysqlgate:cancel-result' }>): void => {
    const relay = relays.get(m.id);
    if (!relay) return;
    relay.results.push(m.result);
    if (--relay.waiting === 0 || m.result !== 'unknown') relay.settle();
  };

  cluster.on('message', (worker: Worker, m: unknown) => {
    if (!isMessage(m)) return;
    if (m.type === 'ysqlgate:listening') {
      listening.add(worker.id);
      listenPort = m.port;
      if (!announced && listening.size === n) {
        announced = true;
        logger.info({ event: 'proxy.listening', listen: `${config.listen.host}:${listenPort}`, admin: admin ? `${config.admin.listen!.host}:${admin.port}` : null, workers: n }, 'ysqlgate listening');
      }
    } else if (m.type === 'ysqlgate:cancel') {
      relayCancel(worker, m);
    } else if (m.type === 'ysqlgate:cancel-result') {
      onCancelAnswer(m);
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const k = index.get(worker.id) ?? 0;
    const everListened = listening.delete(worker.id);
    index.delete(worker.id);
    if (draining) {
      if (connected().length === 0 && Object.keys(cluster.workers ?? {}).length === 0) void finish(0);
      return;
    }
    logger.error({ event: 'worker.exited', workerNumber: k, code, signal }, 'worker exited');
    const now = Date.now();
    while (restarts.length > 0 && now - restarts[0]! > RESTART_WINDOW_MS) restarts.shift();
    if (!everListened || restarts.length >= MAX_RESTARTS) {
      logger.error({ event: 'proxy.failed', reason: everListened ? 'worker_crash_loop' : 'worker_start_failed' }, 'giving up');
      draining = true;
      for (const w of connected()) w.send({ type: 'ysqlgate:drain' } satisfies Message);
      if (Object.keys(cluster.workers ?? {}).length === 0) void finish(1);
      else setTimeout(() => void finish(1), 5000).unref();
      return;
    }
    restarts.push(now);
    fork(k);
  });

  let finishing = false;
  const finish = async (code: number): Promise<void> => {
    if (finishing) return;
    finishing = true;
    await admin?.close();
    logger.info({ event: 'proxy.stopped' }, 'ysqlgate stopped');
    process.exit(code);
  };

  const stop = (signal: string): void => {
    if (draining) return;
    draining = true;
    logger.info({ event: 'proxy.draining', signal }, 'draining sessions');
    for (const w of connected()) w.send({ type: 'ysqlgate:drain' } satisfies Message);
    if (Object.keys(cluster.workers ?? {}).length === 0) void finish(0);
    // Workers drain for up to 30 s and then terminate their sessions; never wait for them forever.
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      void finish(0);
    }, DRAIN_GRACE_MS + 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    logger.info({ event: 'config.reloading', workers: connected().length }, 'reloading configuration in every worker');
    for (const w of connected()) w.send({ type: 'ysqlgate:reload' } satisfies Message);
  });

  for (let k = 1; k <= n; k++) fork(k);
  if (config.admin.listen) {
    admin = await startAdminServer(config.admin.listen, {
      registry: { metrics: () => aggregator.clusterMetrics(), contentType: aggregator.contentType },
    }, () => {
      if (draining) return { ready: false, reason: 'draining' };
      if (listening.size === 0) return { ready: false, reason: 'starting' };
      return { ready: true, reason: `${listening.size}/${n} workers listening` };
    });
  }
}
