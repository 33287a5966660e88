// Demo/test upstream content: database `yugabyte`, a few tables and the upstream roles the proxy logs in as.
// Runs as the throwaway server's superuser; never used against a real cluster.
import { randomBytes } from 'node:crypto';
import type { PgInstance } from './postgres.js';

export const SEED_DATABASE = 'yugabyte' as const;

export type UpstreamRoles = {
  app_ro: string; // SELECT on public tables
  app_rw: string; // SELECT/INSERT/UPDATE/DELETE on public tables
  yb_admin: string; // owns the database, may create roles and databases (stand-in for YSQL's admin)
};

const randomPassword = (): string => randomBytes(18).toString('base64url');

/** Creates the database, tables and roles; returns the random upstream passwords. Idempotent for roles. */
export async function seedDemoDatabase(server: PgInstance): Promise<UpstreamRoles> {
  const passwords: UpstreamRoles = { app_ro: randomPassword(), app_rw: randomPassword(), yb_admin: randomPassword() };
  const exists = await server.query(`SELECT 1 FROM pg_database WHERE datname = '${SEED_DATABASE}'`);
  if (exists.length === 0) await server.query(`CREATE DATABASE ${SEED_DATABASE}`);
  // base64url passwords contain no quote, so inlining them is safe.
  await server.query(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_ro') THEN CREATE ROLE app_ro LOGIN; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_rw') THEN CREATE ROLE app_rw LOGIN; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'yb_admin') THEN CREATE ROLE yb_admin LOGIN CREATEROLE CREATEDB; END IF;
    END $$;
    ALTER ROLE app_ro PASSWORD '${passwords.app_ro}';
    ALTER ROLE app_rw PASSWORD '${passwords.app_rw}';
    ALTER ROLE yb_admin PASSWORD '${passwords.yb_admin}';
    ALTER DATABASE ${SEED_DATABASE} OWNER TO yb_admin;`);
  await inDatabase(server, `
    ALTER SCHEMA public OWNER TO yb_admin;
    CREATE TABLE IF NOT EXISTS public.accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL);
    CREATE TABLE IF NOT EXISTS public.salaries (id int PRIMARY KEY, employee text NOT NULL, salary numeric(12,2) NOT NULL);
    INSERT INTO public.accounts VALUES (1, 'alice', 120.50), (2, 'bob', 75.00), (3, 'carol', 3000.00) ON CONFLICT DO NOTHING;
    INSERT INTO public.salaries VALUES (1, 'alice', 98000), (2, 'bob', 87000) ON CONFLICT DO NOTHING;
    ALTER TABLE public.accounts OWNER TO yb_admin;
    ALTER TABLE public.salaries OWNER TO yb_admin;
    GRANT USAGE ON SCHEMA public TO app_ro, app_rw;
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_ro;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app_rw;
    ALTER DEFAULT PRIVILEGES FOR ROLE yb_admin IN SCHEMA public GRANT SELECT ON TABLES TO app_ro;
    ALTER DEFAULT PRIVILEGES FOR ROLE yb_admin IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app_rw;`);
  return passwords;
}

/** Runs SQL as the superuser inside `database` (over the Unix socket, whatever pg_hba says for TCP). */
export async function inDatabase(server: PgInstance, sql: string, database = SEED_DATABASE): Promise<any[]> {
  return server.query(sql, database);
}
