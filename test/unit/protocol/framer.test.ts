// FrontendFramer: identical frames however the byte stream is split; length caps enforced before buffering.
import t from 'tap';
import { FrontendFramer, type Frame } from '../../../src/protocol/framer.js';
import { throwsReason } from '../../helpers/protocol-violation.js';
import * as b from '../../helpers/frontend-builders.js';

const MAX = 1 << 20;

const messages: Buffer[] = [
  b.buildQuery('SELECT 1'),
  b.buildParse('s1', 'SELECT $1::int', [23]),
  b.buildBind('p1', 's1', ['42', null]),
  b.buildDescribe('P', 'p1'),
  b.buildExecute('p1', 10),
  b.buildClose('S', 's1'),
  b.buildSync(),
  b.buildFlush(),
  b.buildFunctionCall(1598),
  b.buildSASLInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abc'),
  b.buildSASLResponse('c=biws,r=abc,p=xyz'),
  b.buildPassword('secret'),
  b.buildCopyData(Buffer.alloc(300, 7)),
  b.buildCopyDone(),
  b.buildCopyFail('oops'),
  b.buildQuery('SELECT \u00e9\u4e2d\ud83d\ude00'),
  b.buildTerminate(),
];
const fixture = Buffer.concat(messages);
const short = Buffer.concat([b.buildQuery('x'), b.buildSync(), b.buildParse('', 'select', []), b.buildFlush()]);

function run(chunks: Buffer[], max = MAX): Frame[] {
  const f = new FrontendFramer(max);
  const out: Frame[] = [];
  for (const c of chunks) out.push(...f.push(c));
  if (f.buffered !== 0) throw new Error(`left ${f.buffered} bytes buffered`);
  return out;
}

function same(frames: Frame[], expected: Buffer[]): boolean {
  if (frames.length !== expected.length) return false;
  return frames.every((fr, i) => {
    const e = expected[i]!;
    return fr.raw.equals(e) && fr.code === e[0] && fr.body.equals(e.subarray(5));
  });
}

t.test('one chunk: all frames, zero-copy views of the chunk', async (t) => {
  const frames = run([fixture]);
  t.ok(same(frames, messages));
  for (const fr of frames) t.equal(fr.raw.buffer, fixture.buffer, 'raw shares memory with the chunk');
});

t.test('split at every byte offset', async (t) => {
  let bad = 0;
  for (let i = 0; i <= fixture.length; i++) {
    if (!same(run([fixture.subarray(0, i), fixture.subarray(i)]), messages)) bad++;
  }
  t.equal(bad, 0);
});

t.test('split at every pair of offsets (short fixture)', async (t) => {
  const expected = [b.buildQuery('x'), b.buildSync(), b.buildParse('', 'select', []), b.buildFlush()];
  let bad = 0;
  for (let i = 0; i <= short.length; i++) {
    for (let j = i; j <= short.length; j++) {
      if (!same(run([short.subarray(0, i), short.subarray(i, j), short.subarray(j)]), expected)) bad++;
    }
  }
  t.equal(bad, 0);
});

t.test('one byte at a time', async (t) => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < fixture.length; i++) chunks.push(fixture.subarray(i, i + 1));
  t.ok(same(run(chunks), messages));
});

t.test('buffered counts the held bytes of an incomplete message', async (t) => {
  const f = new FrontendFramer(MAX);
  const q = b.buildQuery('SELECT 1');
  t.same(f.push(q.subarray(0, 3)), []);
  t.equal(f.buffered, 3);
  t.same(f.push(q.subarray(3, 8)), []);
  t.equal(f.buffered, 8);
  t.equal(f.push(q.subarray(8)).length, 1);
  t.equal(f.buffered, 0);
});

function header(code: string, len: number): Buffer {
  const h = Buffer.alloc(5);
  h.write(code, 0, 'latin1');
  h.writeUInt32BE(len >>> 0, 1);
  return h;
}

t.test('a 1 GiB length is refused at the header, nothing buffered', async (t) => {
  const f = new FrontendFramer(MAX);
  throwsReason(t, () => f.push(header('Q', 1 << 30)), 'message_too_large');
  t.ok(f.buffered <= 5);
  // header split across chunks, after a complete message in the same chunk
  const g = new FrontendFramer(MAX);
  const h = header('Q', 1 << 30);
  t.equal(g.push(Buffer.concat([b.buildSync(), h.subarray(0, 2)])).length, 1);
  throwsReason(t, () => g.push(Buffer.concat([h.subarray(2), Buffer.alloc(100)])), 'message_too_large');
  t.ok(g.buffered <= 5, `buffered ${g.buffered}`);
});

t.test('maxMessageSize is inclusive of the 4 length bytes', async (t) => {
  const ok = b.buildCopyData(Buffer.alloc(96)); // length field = 100
  t.equal(run([ok], 100).length, 1);
  throwsReason(t, () => run([b.buildCopyData(Buffer.alloc(97))], 100), 'message_too_large');
});

t.test('lengths below 4 and negative lengths are refused', async (t) => {
  for (const len of [0, 1, 3, -1, -2147483648]) {
    const f = new FrontendFramer(MAX);
    throwsReason(t, () => f.push(header('Q', len)), 'bad_length');
    const g = new FrontendFramer(MAX);
    g.push(header('Q', len).subarray(0, 4));
    throwsReason(t, () => g.push(header('Q', len).subarray(4)), 'bad_length');
  }
  t.equal(run([header('S', 4)]).length, 1, 'length 4 (empty body) is fine');
});
