// The demo's generated config must pass the real loader, and its printed commands must be pasteable.
import t from 'tap';
import { verifyScramPassword, parseScramVerifier } from '../../../src/auth/verifier.js';
import { parseConfig } from '../../../src/config/load.js';
import { DEMO_USERS, banner, demoYaml } from '../../../src/demo/demo-config.js';

t.test('demo YAML is a valid config with verifiers of the printed passwords', async (t) => {
  const yaml = demoYaml({ proxyPort: 5433, adminPort: 9187, pgPort: 55432, certs: '/x/certs', caFile: '/x/certs/ca.crt' });
  const env = { YSQLGATE_DEMO_APP_RO: 'a', YSQLGATE_DEMO_APP_RW: 'b', YSQLGATE_DEMO_YB_ADMIN: 'c' };
  const config = parseConfig(yaml, { baseDir: '/tmp', env });
  t.same(config.listen, { host: '127.0.0.1', port: 5433 });
  t.equal(config.upstream.tls.mode, 'verify-full');
  t.equal(config.tls.mode, 'required');
  for (const u of DEMO_USERS) {
    const user = config.users.find((x) => x.name === u.name);
    t.ok(user, u.name);
    const v = parseScramVerifier(user!.password!);
    t.ok(v && verifyScramPassword(u.password, v), `${u.name}: verifier matches the printed password`);
    t.equal(user!.upstream.user, u.upstream);
  }
  t.notMatch(yaml, /demo-password/, 'plain demo passwords are not in the config');
  t.same(config.users.find((u) => u.name === 'app')!.upstream.password, { kind: 'password', value: 'a', source: 'env:YSQLGATE_DEMO_APP_RO' });
});

t.test('banner commands', async (t) => {
  const text = banner({ proxyPort: 6432, adminPort: 9187, caFile: '/abs/certs/ca.crt', configFile: '/tmp/c.yaml' });
  t.match(text, 'PGPASSWORD=app-demo-password psql "host=127.0.0.1 port=6432 dbname=yugabyte user=app sslmode=verify-full sslrootcert=/abs/certs/ca.crt"');
  t.match(text, /insert into public\.accounts/);
  const spaced = banner({ proxyPort: 1, adminPort: null, caFile: "/a b/it's/ca.crt", configFile: '/c' });
  t.match(spaced, `sslrootcert='/a b/it\\'s/ca.crt'`, 'paths with spaces are quoted for libpq');
  t.notMatch(spaced, /curl/);
});
