// The SQL of the session's prepared statements (extended protocol; '' is the unnamed one), so that a config reload can have the
// new rules check statements prepared under the old ones before they run again. Pure bookkeeping, no I/O.

export class PreparedStatements {
  private readonly sql = new Map<string, string>();
  /** Names checked under the current rules; null while no reload has happened (the common, free case). */
  private current: Set<string> | null = null;

  /** True after a reload: Binds must be looked at until every statement has been checked again. */
  get stale(): boolean {
    return this.current !== null;
  }

  parsed(name: string, sql: string): void {
    this.sql.set(name, sql);
    this.current?.add(name);
  }

  closed(target: { target: 'S' | 'P'; name: string }): void {
    if (target.target !== 'S') return;
    this.sql.delete(target.name);
    this.current?.delete(target.name);
  }

  rulesChanged(): void {
    this.current = new Set();
  }

  /** The SQL to check again before `name` is bound, or null when it is current (or not ours to check). */
  needsRecheck(name: string): string | null {
    if (this.current === null || this.current.has(name)) return null;
    return this.sql.get(name) ?? null;
  }

  rechecked(name: string): void {
    this.current?.add(name);
  }
}
