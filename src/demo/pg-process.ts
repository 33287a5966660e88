// Process bookkeeping for throwaway PostgreSQL servers: signalling a server and its backends, and killing
// every live server when this process exits. Knows nothing about data directories beyond deleting them.
import fs from 'node:fs';
import path from 'node:path';

export type Live = { pid: number; base: string };
export const live = new Set<Live>();
let hooksInstalled = false;

export function signal(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

/** Direct children of pid, from /proc (Linux); [] elsewhere. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try { entries = fs.readdirSync('/proc'); } catch { return out; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/**
 * SIGKILL the postmaster and every backend at once. PostgreSQL children call setsid(), so a
 * process-group kill would reach only the postmaster and leave backends answering for a moment.
 */
export function killTree(pid: number): void {
  if (pid <= 0) return;
  signal(pid, 'SIGSTOP'); // no new backends while we collect them
  for (const child of childrenOf(pid)) signal(child, 'SIGKILL');
  signal(pid, 'SIGKILL');
}

function cleanupAllSync(): void {
  for (const l of live) {
    // The process is exiting and cannot wait: kill everything at once so nothing writes while we delete.
    killTree(l.pid);
    fs.rmSync(l.base, { recursive: true, force: true, maxRetries: 3 });
  }
  live.clear();
}

/**
 * Normal exit: kill and delete every live server. Death by a signal cannot run JavaScript, so servers also
 * get a parent-death signal (see PDEATHSIG_ARGS) and stale directories are swept by the next start.
 * No SIGINT/SIGTERM handler here: adding one would change how the host process (tap, the CLI) dies.
 */
export function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupAllSync);
}

/** `setpriv --pdeathsig SIGQUIT`: the server shuts down when this process dies, however it dies. */
export const PDEATHSIG_ARGS = ['--pdeathsig', 'SIGQUIT'] as const;

const OWNER_FILE = 'owner.pid';
const SWEEP_MIN_AGE_MS = 60_000;

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Marks a server base directory as owned by this process (for sweepStale in other processes). */
export function markOwner(base: string): void {
  fs.writeFileSync(path.join(base, OWNER_FILE), String(process.pid));
}

/**
 * Deletes `<tmp>/ysqlgate-pg-*` directories left by processes that died by a signal: only when older than a
 * minute, their owner process is gone and no postmaster runs in them.
 */
export function sweepStale(tmp: string): void {
  let names: string[] = [];
  try { names = fs.readdirSync(tmp); } catch { return; }
  for (const name of names) {
    if (!/^ysqlgate-pg-[A-Za-z0-9]{6}$/.test(name)) continue; // never the template or its staging dirs
    const base = path.join(tmp, name);
    try {
      if (Date.now() - fs.statSync(base).mtimeMs < SWEEP_MIN_AGE_MS) continue;
      const owner = Number(fs.readFileSync(path.join(base, OWNER_FILE), 'utf8'));
      if (alive(owner)) continue;
      let postmaster = 0;
      try { postmaster = Number(fs.readFileSync(path.join(base, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]); } catch { /* none */ }
      if (alive(postmaster)) continue;
      fs.rmSync(base, { recursive: true, force: true });
    } catch { /* not ours, or raced with its owner: leave it */ }
  }
}

export function trackLive(pid: number, base: string): () => void {
  installExitHooks();
  const entry: Live = { pid, base };
  live.add(entry);
  return () => live.delete(entry);
}

