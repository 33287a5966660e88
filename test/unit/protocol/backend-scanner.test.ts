// The upstream→client scanner: forwarded bytes must equal the input exactly (whatever the chunking), every
// ReadyForQuery status is seen, and a watched ErrorResponse is held whole and can be replaced.
import t from 'tap';
import { BackendScanner } from '../../../src/protocol/backend-scanner.js';
import { encodeErrorResponse, encodeReadyForQuery, encodeCommandComplete, encodeParameterStatus } from '../../../src/protocol/backend.js';

function dataRow(values: string[]): Buffer {
  const parts = values.map((v) => { const b = Buffer.from(v); const l = Buffer.alloc(4); l.writeInt32BE(b.length); return Buffer.concat([l, b]); });
  const body = Buffer.concat([Buffer.from([0, values.length]), ...parts]);
  const head = Buffer.alloc(5); head[0] = 0x44; head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const beforeError = Buffer.concat([
  encodeParameterStatus('TimeZone', 'UTC'),
  dataRow(['1', 'alice']), dataRow(['2', 'x'.repeat(300)]),
  encodeCommandComplete('SELECT 2'), encodeReadyForQuery('T'),
]);
const stream = Buffer.concat([
  beforeError,
  encodeErrorResponse({ severity: 'ERROR', code: '42601', message: 'syntax error at or near "marker_1"' }),
  encodeReadyForQuery('E'), dataRow(['3']), encodeReadyForQuery('I'),
]);

function run(chunks: Buffer[], watch: boolean, replace?: (m: Buffer) => Buffer): { out: Buffer; statuses: string[]; errors: number } {
  const statuses: string[] = [];
  let errors = 0;
  const scanner = new BackendScanner({
    onReadyForQuery: (s) => statuses.push(String.fromCharCode(s)),
    onErrorResponse: (m) => { errors++; return replace ? replace(m) : m; },
  });
  scanner.watchErrors = watch;
  const out: Buffer[] = [];
  for (const c of chunks) scanner.scan(c, out);
  t.ok(scanner.atBoundary, 'ends at a boundary');
  return { out: Buffer.concat(out), statuses, errors };
}

t.test('forwards the exact bytes at every single split point', async (t) => {
  for (let i = 0; i <= stream.length; i++) {
    for (const watch of [false, true]) {
      const r = run([stream.subarray(0, i), stream.subarray(i)], watch);
      if (!r.out.equals(stream)) { t.fail(`split at ${i} watch=${watch}`); return; }
      if (r.statuses.join('') !== 'TEI') { t.fail(`statuses at ${i}: ${r.statuses.join('')}`); return; }
      if (r.errors !== (watch ? 1 : 0)) { t.fail(`errors at ${i}`); return; }
    }
  }
  t.pass('all splits');
});

t.test('byte-at-a-time and three-way splits', async (t) => {
  const bytes = [...stream].map((b) => Buffer.from([b]));
  t.ok(run(bytes, true).out.equals(stream));
  for (let i = 0; i < stream.length; i += 7) {
    for (let j = i; j < stream.length; j += 11) {
      const r = run([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)], true);
      if (!r.out.equals(stream)) { t.fail(`split ${i},${j}`); return; }
    }
  }
  t.pass();
});

t.test('a watched ErrorResponse is replaced whole, wherever it is split', async (t) => {
  const replacement = encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'permission denied: x' });
  const expected = Buffer.concat([beforeError, replacement]);
  for (let i = 0; i <= stream.length; i++) {
    const r = run([stream.subarray(0, i), stream.subarray(i)], true, () => replacement);
    if (!r.out.subarray(0, expected.length).equals(expected) || r.out.includes(Buffer.from('marker_1'))) {
      t.fail(`split at ${i}`);
      return;
    }
  }
  t.pass();
});

t.test('without a split, chunks are forwarded as the same memory', async (t) => {
  const scanner = new BackendScanner({ onReadyForQuery: () => undefined, onErrorResponse: (m) => m });
  const out: Buffer[] = [];
  scanner.scan(stream, out);
  t.equal(out.length, 1);
  t.equal(out[0]!.buffer, stream.buffer, 'no copy');
});

t.test('stopAtBoundary stops after the message in flight', async (t) => {
  const scanner = new BackendScanner({ onReadyForQuery: () => undefined, onErrorResponse: (m) => m });
  const out: Buffer[] = [];
  const first = dataRow(['1', 'alice']);
  scanner.scan(stream.subarray(0, 20), out); // mid data row
  const used = scanner.scan(stream.subarray(20), out, true);
  t.ok(scanner.atBoundary);
  t.equal(20 + used, encodeParameterStatus('TimeZone', 'UTC').length + first.length);
});

t.test('an invalid length from upstream throws', async (t) => {
  const scanner = new BackendScanner({ onReadyForQuery: () => undefined, onErrorResponse: (m) => m });
  t.throws(() => scanner.scan(Buffer.from([0x44, 0, 0, 0, 2]), []));
});
