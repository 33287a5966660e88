// Shared roles and users for the policy tests (not a test file itself).
import type { RoleConfig, RuleConfig, UserConfig } from '../../../src/config/types.js';

export const rule = (privileges: RuleConfig['privileges'], objects: string[] = [], functions: string[] = []): RuleConfig => ({ privileges, objects, functions });

export const ROLES: RoleConfig[] = [
  { name: 'reader', databases: ['yugabyte'], allow: [rule(['read'], ['public.*'])], deny: [rule([], ['public.salaries'])] },
  { name: 'writer', databases: ['yugabyte'], allow: [rule(['read', 'write'], ['public.*'])], deny: [rule(['write'], ['public.audit'])] },
  { name: 'dba', databases: ['*'], allow: [rule(['all'])], deny: [] },
  { name: 'ddl_only', databases: ['yugabyte'], allow: [rule(['ddl'], ['public.*'])], deny: [] },
  { name: 'exec', databases: ['yugabyte'], allow: [rule(['read']), rule(['execute'], [], ['app_*'])], deny: [rule([], [], ['pg_sleep'])] },
  { name: 'canceller', databases: ['yugabyte'], allow: [rule(['read'], ['public.*']), rule(['admin'], [], ['pg_cancel_backend'])], deny: [] },
];

export const user = (name: string, roles: string[]): UserConfig => ({
  name,
  auth: 'scram',
  password: null,
  clientCertificate: 'optional',
  roles,
  from: null,
  upstream: { user: name, password: { kind: 'passthrough' } },
});

export const USERS: Record<string, UserConfig> = {
  reader: user('reader', ['reader']),
  writer: user('writer', ['writer']),
  dba: user('dba', ['dba']),
  ddl_only: user('ddl_only', ['ddl_only']),
  mixed: user('mixed', ['reader', 'ddl_only']),
  exec: user('exec', ['exec']),
  canceller: user('canceller', ['canceller']),
};
