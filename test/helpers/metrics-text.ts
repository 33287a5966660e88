// Reads the admin endpoint and parses Prometheus text exposition for assertions (names, HELP, TYPE, samples).
import http from 'node:http';

export type Sample = { name: string; labels: Record<string, string>; value: number };
export type Exposition = { text: string; samples: Sample[]; help: Map<string, string>; type: Map<string, string> };

export function httpGet(port: number, path: string, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [name, ...rest] = line.slice(7).split(' ');
      help.set(name!, rest.join(' '));
    } else if (line.startsWith('# TYPE ')) {
      const [name, t] = line.slice(7).split(' ');
      type.set(name!, t!);
    } else if (line && !line.startsWith('#')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      if (!m) throw new Error(`unparsable metrics line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }
  return { text, samples, help, type };
}

export async function scrape(port: number): Promise<Exposition> {
  const { status, body } = await httpGet(port, '/metrics');
  if (status !== 200) throw new Error(`/metrics answered ${status}`);
  return parseExposition(body);
}

/** Sum of the samples named `name` whose labels include `labels`. */
export function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  return e.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Whether a metric family `name` is exposed (histograms by their _bucket/_sum/_count series). */
export function exposes(e: Exposition, name: string): boolean {
  return e.type.has(name) || e.samples.some((s) => s.name === name);
}

/**
 * Scrapes until `ready(exposition)` holds (or `ms` pass, then returns the last scrape): for counters that are
 * updated a moment after the client-visible effect, such as a cancel counted when the upstream closes.
 */
export async function scrapeWhen(port: number, ready: (e: Exposition) => boolean, ms = 3000): Promise<Exposition> {
  const deadline = Date.now() + ms;
  for (;;) {
    const e = await scrape(port);
    if (ready(e) || Date.now() > deadline) return e;
    await new Promise((r) => setTimeout(r, 25));
  }
}
