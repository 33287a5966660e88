// Runs `ysqlgate serve` as a child process (from src/ under tap's loader, or from a built dist/) with a test
// config on disk, parses its JSON log lines, and stops it (SIGTERM, then SIGKILL) with the test.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { buildTestConfigDoc, type TestProxyOptions } from './proxy.js';

type Teardown = { teardown(fn: () => unknown): void };

export type ServeProcess = {
  child: ChildProcess;
  port: number;
  adminPort: number;
  configFile: string;
  passwords: Record<string, string>;
  env: Record<string, string>;
  lines(): Array<Record<string, any>>;
  stderr(): string;
  waitFor(pred: (l: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/** Writes the test config (helpers/proxy.ts shape) to a temp dir; returns file, secrets env and passwords. */
export function writeTestConfig(opts: TestProxyOptions): { dir: string; configFile: string; env: Record<string, string>; passwords: Record<string, string> } {
  const { doc, env, passwords } = buildTestConfigDoc(opts);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-serve-'));
  const configFile = path.join(dir, 'ysqlgate.yaml');
  fs.writeFileSync(configFile, stringify(doc));
  return { dir, configFile, env, passwords };
}

/** `argv` runs the CLI (e.g. [...process.execArgv, 'src/cli.ts'] or ['dist/cli.js']); `serve --config` is appended. */
export async function startServeProcess(t: Teardown, argv: string[], opts: TestProxyOptions & { cwd?: string; startMs?: number; env?: Record<string, string> }): Promise<ServeProcess> {
  const { dir, configFile, env, passwords } = writeTestConfig(opts);
  const child = spawn(process.execPath, [...argv, 'serve', '--config', configFile], {
    cwd: opts.cwd ?? process.cwd(), env: { ...process.env, ...opts.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const parsed: Array<Record<string, any>> = [];
  let err = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      try { parsed.push(JSON.parse(line) as Record<string, any>); } catch { parsed.push({ raw: line }); }
    }
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { for (const w of waiters) w(); resolve(code); }));
  const waitFor = (pred: (l: Record<string, any>) => boolean, ms = 30_000): Promise<Record<string, any>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = parsed.find(pred);
        if (hit) { done(); resolve(hit); } else if (child.exitCode !== null) { done(); reject(new Error(`serve exited ${child.exitCode}: ${err}`)); }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for a log line; stderr: ${err}`)); }, ms);
      const done = (): void => { clearTimeout(timer); waiters.delete(check); };
      waiters.add(check);
      check();
    });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  t.teardown(async () => { await stop(); fs.rmSync(dir, { recursive: true, force: true }); });
  const listening = await waitFor((l) => l.event === 'proxy.listening' && (l.worker === undefined || l.worker === 'primary'), opts.startMs ?? 60_000);
  const port = Number(String(listening.listen).split(':').pop());
  const adminPort = Number(String(listening.admin).split(':').pop());
  return { child, port, adminPort, configFile, passwords, env, lines: () => parsed, stderr: () => err, waitFor, stop };
}
