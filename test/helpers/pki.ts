// One test PKI per test process (CA, server, unrelated CA + server, client certs), made once and cached.
// Lives in a temp directory removed when the process exits.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTestPki, type TestPki } from '../../src/demo/certs.js';

export type { TestPki };

let pki: Promise<TestPki> | null = null;

export function testPki(): Promise<TestPki> {
  if (!pki) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-test-pki-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    pki = makeTestPki(dir, 'certuser'); // clients.good has CN certuser (a cert-auth test user)
  }
  return pki;
}
