// TLS for the client side: the listener's secure context (swappable on reload), the server-side handshake
// on an accepted socket, and peer-certificate verification. Node's hand-wrapped server TLSSocket never sets
// `authorized`, so verification asks OpenSSL's verify result explicitly and fails closed.
import fs from 'node:fs';
import tls from 'node:tls';
import type net from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { ListenerTlsConfig } from '../config/types.js';

export type ListenerTls = {
  readonly context: tls.SecureContext;
  readonly requestCert: boolean;
  /** DER of the server certificate, for SCRAM-SHA-256-PLUS tls-server-end-point binding. */
  readonly certificateDer: Buffer;
  readonly certificateNotAfter: Date;
  readonly clientCANotAfter: Date | null;
};

export const ALPN_POSTGRESQL = 'postgresql';

/** Reads the certificate files; throws an Error naming the file on any problem. */
export function loadListenerTls(config: ListenerTlsConfig): ListenerTls {
  const cert = readFile(config.certFile, 'tls.cert');
  const key = readFile(config.keyFile, 'tls.key');
  const ca = config.clientCAFile ? readFile(config.clientCAFile, 'tls.clientCA') : null;
  const context = tls.createSecureContext({ cert, key, ca: ca ?? undefined, minVersion: config.minVersion });
  const x509 = new X509Certificate(cert);
  return {
    context,
    requestCert: ca !== null,
    certificateDer: x509.raw,
    certificateNotAfter: new Date(x509.validTo),
    clientCANotAfter: ca ? earliestExpiry(ca) : null,
  };
}

/** The first expiry among the certificates of a PEM bundle (the one that breaks verification first). */
export function earliestExpiry(pem: Buffer): Date | null {
  let earliest: Date | null = null;
  for (const block of pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []) {
    const notAfter = new Date(new X509Certificate(block).validTo);
    if (earliest === null || notAfter < earliest) earliest = notAfter;
  }
  return earliest;
}

function readFile(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * Runs the server side of a TLS handshake on `socket` (whose unread bytes, if any, are fed to TLS by Node).
 * Resolves once the handshake completes; rejects on failure or when `signal` aborts.
 */
export function acceptTls(socket: net.Socket, config: ListenerTls, signal: AbortSignal): Promise<tls.TLSSocket> {
  const secure = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: config.context,
    requestCert: config.requestCert,
    rejectUnauthorized: false, // verified explicitly with peerVerifyError(), so the failure is uniform
    ALPNProtocols: [ALPN_POSTGRESQL],
  });
  return new Promise((resolve, reject) => {
    const onAbort = (): void => { secure.destroy(); reject(new Error('tls handshake aborted')); };
    signal.addEventListener('abort', onAbort, { once: true });
    secure.once('secure', () => { signal.removeEventListener('abort', onAbort); resolve(secure); });
    secure.once('error', (err) => { signal.removeEventListener('abort', onAbort); reject(err); });
  });
}

type VerifyingHandle = { verifyError?: () => (Error & { code?: string }) | null };

/**
 * Why the client's certificate did not verify against `tls.clientCA` (OpenSSL's code, e.g. CERT_HAS_EXPIRED),
 * or null when it did. Fails closed: no certificate, or no way to ask OpenSSL, is a reason too.
 */
export function peerVerifyError(socket: tls.TLSSocket): string | null {
  if (!socket.getPeerX509Certificate()) return 'NO_CERTIFICATE';
  const handle = (socket as unknown as { _handle?: VerifyingHandle })._handle;
  if (!handle || typeof handle.verifyError !== 'function') return 'UNKNOWN';
  const error = handle.verifyError();
  return error === null ? null : (error.code ?? 'UNKNOWN');
}
