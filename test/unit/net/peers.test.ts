// Cancel routing between ysqlgate replicas: tags, the FORWARDED loop guard, and TLS-only delivery to a peer that
// proves it is one of us.
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import crypto from 'node:crypto';
import { chooseReplica, FORWARDED_BIT, peerTargets, sendPeerCancel, TAG_SHIFT, tagOf } from '../../../src/net/peers.js';
import { testPki } from '../../helpers/pki.js';

const hp = (port: number) => ({ host: '10.0.0.1', port });
const peers = [hp(5433), hp(5434), hp(5435)];

t.test('a replica listed in peers takes its 1-based place as tag', async (t) => {
  t.same(chooseReplica(peers, { host: '0.0.0.0', port: 5434 }, new Set(['10.0.0.1'])), { tag: 2, selfIndex: 1 });
  const other = chooseReplica(peers, { host: '0.0.0.0', port: 5433 }, new Set(['10.9.9.9']));
  t.equal(other.selfIndex, null);
  t.ok(other.tag > peers.length && other.tag <= 255, 'random tag above the list');
});

t.test('routing', async (t) => {
  const me = { tag: 2, selfIndex: 1 };
  const key = (tag: number) => (tag << TAG_SHIFT) | 77;
  t.equal(tagOf(key(3)), 3);
  t.same(peerTargets(key(2), me, peers), [], 'own tag: never forwarded');
  t.same(peerTargets(key(3), me, peers), [hp(5435)], 'tag names the owner');
  t.same(peerTargets(key(200), me, peers), [hp(5433), hp(5435)], 'unknown tag: every other peer');
  t.same(peerTargets(key(3) | FORWARDED_BIT, me, peers), [], 'a forwarded request is never forwarded again');
  t.same(peerTargets(key(3), me, []), []);
});

/** A fake peer: answers SSLRequest with `answer`, then TLS with the given certificate; records what it read. */
async function fakePeer(t: { teardown(fn: () => unknown): void }, answer: 'S' | 'N', cert: { certFile: string; keyFile: string }): Promise<{ port: number; got: Buffer[] }> {
  const got: Buffer[] = [];
  const server = net.createServer((socket) => {
    socket.once('data', () => {
      socket.write(answer);
      if (answer === 'N') { socket.on('data', (d) => got.push(d)); return; }
      const secure = new tls.TLSSocket(socket, { isServer: true, cert: fs.readFileSync(cert.certFile), key: fs.readFileSync(cert.keyFile) });
      secure.on('data', (d) => got.push(d));
      secure.on('end', () => secure.end());
      secure.on('error', () => undefined);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, got };
}

t.test('a peer cancel goes only over TLS, and only to a peer with our certificate or one from clientCA', async (t) => {
  const pki = await testPki();
  const own = new crypto.X509Certificate(fs.readFileSync(pki.server.certFile)).raw;
  const ok = await fakePeer(t, 'S', pki.server);
  t.equal(await sendPeerCancel({ host: '127.0.0.1', port: ok.port }, 5, 6, { ownCertificateDer: own, clientCAFile: null }, 1000), true);
  await new Promise((r) => setTimeout(r, 50));
  const sent = Buffer.concat(ok.got);
  t.equal(sent.length, 16);
  t.equal(sent.readInt32BE(4), 80877102);

  const plain = await fakePeer(t, 'N', pki.server);
  t.equal(await sendPeerCancel({ host: '127.0.0.1', port: plain.port }, 5, 6, { ownCertificateDer: own, clientCAFile: null }, 500), false);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(Buffer.concat(plain.got).length, 0, 'the key is never sent in plaintext');

  const stranger = await fakePeer(t, 'S', pki.otherServer);
  t.equal(await sendPeerCancel({ host: '127.0.0.1', port: stranger.port }, 5, 6, { ownCertificateDer: own, clientCAFile: pki.ca.certFile }, 500), false);
  t.equal(Buffer.concat(stranger.got).length, 0, 'an impostor peer gets nothing');
  const caSigned = await fakePeer(t, 'S', pki.server);
  t.equal(await sendPeerCancel({ host: '127.0.0.1', port: caSigned.port }, 5, 6, { ownCertificateDer: Buffer.from('x'), clientCAFile: pki.ca.certFile }, 1000), true, 'clientCA-signed peer');
});
