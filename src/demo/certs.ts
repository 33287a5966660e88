// Development and test certificates made with the `openssl` CLI: ECDSA P-256, keys mode 0600.
// Never for production: the CA key sits next to the certificates it signs.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type CertPair = { certFile: string; keyFile: string };
export type DevCerts = { dir: string; caCert: string; caKey: string; serverCert: string; serverKey: string };
export type ClientCertOptions = {
  days?: number;
  expired?: boolean; // valid 2020-01-01 .. 2020-01-02
  ca?: CertPair; // default: <dir>/ca.crt + ca.key
  name?: string; // file base name; default client-<cn>
};
export type TestPki = {
  dir: string;
  ca: CertPair; // the trusted CA
  server: CertPair; // localhost/127.0.0.1/::1, signed by ca
  otherCa: CertPair; // an unrelated CA
  otherServer: CertPair; // same names, signed by otherCa (verify-full against ca must fail)
  clients: { good: CertPair; wrongCn: CertPair; expired: CertPair; unknownCa: CertPair };
  goodCn: string; // CN of clients.good (and of expired/unknownCa); wrongCn uses another CN
};

const SERVER_SAN = 'DNS:localhost,IP:127.0.0.1,IP:::1';

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { maxBuffer: 1 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

function tmpName(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Config text for `openssl req`: subject from the file (no -subj escaping) and the given extensions. */
function reqConfig(cn: string, ext: string[]): string {
  const safe = cn.replace(/[\n\\"]/g, '_');
  return ['[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = ext', '[dn]', `CN = "${safe}"`, '[ext]', ...ext, ''].join('\n');
}

async function newKey(file: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
  fs.chmodSync(file, 0o600);
}

/** Writes cert+key under temporary names, then renames them into place: readers never see half a pair. */
async function issue(out: CertPair, cn: string, ext: string[], signer: CertPair | null, validity: { days: number } | { expired: true }): Promise<CertPair> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-cert-'));
  try {
    const key = path.join(work, 'key.pem');
    const cfg = path.join(work, 'req.cnf');
    await newKey(key);
    fs.writeFileSync(cfg, reqConfig(cn, ext));
    const crt = path.join(work, 'cert.pem');
    if (!signer) {
      const days = 'days' in validity ? validity.days : 1;
      await openssl(['req', '-x509', '-new', '-key', key, '-config', cfg, '-sha256', '-days', String(days), '-set_serial', serial(), '-out', crt]);
    } else {
      const csr = path.join(work, 'req.csr');
      await openssl(['req', '-new', '-key', key, '-config', cfg, '-out', csr]);
      if ('days' in validity) {
        await openssl(['x509', '-req', '-in', csr, '-CA', signer.certFile, '-CAkey', signer.keyFile, '-sha256',
          '-days', String(validity.days), '-set_serial', serial(), '-extfile', cfg, '-extensions', 'ext', '-out', crt]);
      } else {
        await signExpired(work, csr, cfg, signer, crt);
      }
    }
    const tmpKey = tmpName(out.keyFile);
    const tmpCrt = tmpName(out.certFile);
    fs.copyFileSync(key, tmpKey);
    fs.chmodSync(tmpKey, 0o600);
    fs.copyFileSync(crt, tmpCrt);
    fs.renameSync(tmpKey, out.keyFile);
    fs.renameSync(tmpCrt, out.certFile);
    return out;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function serial(): string {
  return `0x${randomBytes(12).toString('hex').replace(/^./, '1')}`;
}

/** OpenSSL 3.0's x509/req reject past dates; `openssl ca` accepts explicit start and end dates. */
async function signExpired(work: string, csr: string, extCfg: string, signer: CertPair, crt: string): Promise<void> {
  const cfg = path.join(work, 'ca.cnf');
  fs.writeFileSync(path.join(work, 'index.txt'), '');
  fs.writeFileSync(path.join(work, 'serial'), `${randomBytes(8).toString('hex').replace(/^./, '1')}\n`);
  fs.writeFileSync(cfg, [
    '[ca]', 'default_ca = dflt', '[dflt]', `database = ${path.join(work, 'index.txt')}`, `new_certs_dir = ${work}`,
    `serial = ${path.join(work, 'serial')}`, 'default_md = sha256', 'policy = any', 'unique_subject = no',
    '[any]', 'commonName = supplied', '',
  ].join('\n'));
  await openssl(['ca', '-batch', '-notext', '-config', cfg, '-cert', signer.certFile, '-keyfile', signer.keyFile, '-in', csr,
    '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', extCfg, '-extensions', 'ext', '-out', crt]);
}

const CA_EXT = ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash'];
const SERVER_EXT = ['basicConstraints = CA:FALSE', 'keyUsage = critical,digitalSignature', 'extendedKeyUsage = serverAuth',
  `subjectAltName = ${SERVER_SAN}`];
const CLIENT_EXT = ['basicConstraints = CA:FALSE', 'keyUsage = critical,digitalSignature', 'extendedKeyUsage = clientAuth'];

const exists = (p: CertPair): boolean => fs.existsSync(p.certFile) && fs.existsSync(p.keyFile);

export async function createCa(dir: string, name: string, cn: string): Promise<CertPair> {
  return issue({ certFile: path.join(dir, `${name}.crt`), keyFile: path.join(dir, `${name}.key`) }, cn, CA_EXT, null, { days: 3650 });
}

export async function issueServerCertificate(dir: string, name: string, ca: CertPair, cn = 'localhost'): Promise<CertPair> {
  return issue({ certFile: path.join(dir, `${name}.crt`), keyFile: path.join(dir, `${name}.key`) }, cn, SERVER_EXT, ca, { days: 825 });
}

/** Creates only what is missing: ca.crt/ca.key, then server.crt/server.key signed by that CA. */
export async function ensureDevCertificates(dir: string): Promise<DevCerts> {
  fs.mkdirSync(dir, { recursive: true });
  const ca = { certFile: path.join(dir, 'ca.crt'), keyFile: path.join(dir, 'ca.key') };
  const server = { certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') };
  const caExisted = exists(ca);
  if (!caExisted) await createCa(dir, 'ca', 'ysqlgate development CA');
  // A new CA invalidates an old server certificate, so reissue it too.
  if (!caExisted || !exists(server)) await issueServerCertificate(dir, 'server', ca);
  return { dir, caCert: ca.certFile, caKey: ca.keyFile, serverCert: server.certFile, serverKey: server.keyFile };
}

/** client-<cn>.crt/.key (or opts.name), signed by opts.ca or the dir's CA; created only if missing. */
export async function issueClientCertificate(dir: string, cn: string, opts: ClientCertOptions = {}): Promise<CertPair> {
  const base = opts.name ?? `client-${cn.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  const out = { certFile: path.join(dir, `${base}.crt`), keyFile: path.join(dir, `${base}.key`) };
  if (exists(out)) return out;
  const ca = opts.ca ?? { certFile: path.join(dir, 'ca.crt'), keyFile: path.join(dir, 'ca.key') };
  return issue(out, cn, CLIENT_EXT, ca, opts.expired ? { expired: true } : { days: opts.days ?? 825 });
}

/** Everything the TLS and certificate-auth tests need, in one directory. */
export async function makeTestPki(dir: string, goodCn = 'app'): Promise<TestPki> {
  fs.mkdirSync(dir, { recursive: true });
  const dev = await ensureDevCertificates(dir);
  const ca = { certFile: dev.caCert, keyFile: dev.caKey };
  const otherCa = exists({ certFile: path.join(dir, 'other-ca.crt'), keyFile: path.join(dir, 'other-ca.key') })
    ? { certFile: path.join(dir, 'other-ca.crt'), keyFile: path.join(dir, 'other-ca.key') }
    : await createCa(dir, 'other-ca', 'unrelated CA');
  const otherServerPair = { certFile: path.join(dir, 'other-server.crt'), keyFile: path.join(dir, 'other-server.key') };
  const otherServer = exists(otherServerPair) ? otherServerPair : await issueServerCertificate(dir, 'other-server', otherCa);
  const [good, wrongCn, expired, unknownCa] = await Promise.all([
    issueClientCertificate(dir, goodCn, { ca }),
    issueClientCertificate(dir, `${goodCn}-wrong`, { ca, name: 'client-wrong-cn' }),
    issueClientCertificate(dir, goodCn, { ca, expired: true, name: 'client-expired' }),
    issueClientCertificate(dir, goodCn, { ca: otherCa, name: 'client-unknown-ca' }),
  ]);
  return {
    dir, ca, server: { certFile: dev.serverCert, keyFile: dev.serverKey }, otherCa, otherServer,
    clients: { good, wrongCn, expired, unknownCa }, goodCn,
  };
}
