// Rate-limited refusal log: at most N lines a second, then one "suppressed" line with the count per reason.
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../../../src/observability/logger.js';
import { RefusalLog } from '../../../src/net/refusal-log.js';

t.test('a flood of refusals writes N lines plus a suppressed count', async (t) => {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({ write(c, _e, cb) { for (const l of String(c).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  const clock = { now: 0 };
  const log = new RefusalLog(createLogger({ level: 'info', format: 'json' }, sink), { perSecond: 5, now: () => clock.now });
  for (let i = 0; i < 1000; i++) log.refused(i % 2 ? 'address_not_allowed' : 'proxy_header_untrusted', `10.0.0.${i % 250}:1`);
  log.flush();
  await new Promise((r) => setImmediate(r));
  t.equal(lines.length, 6);
  t.same(lines.slice(0, 5).map((l) => l.event), Array(5).fill('connection.rejected'));
  t.equal(lines[0]!.client, '10.0.0.0:1');
  t.match(lines[5], { event: 'connection.rejected', reason: 'suppressed', suppressed: 995, reasons: { address_not_allowed: 498, proxy_header_untrusted: 497 } });
  clock.now += 1000;
  log.refused('address_not_allowed', '10.0.0.1:1');
  await new Promise((r) => setImmediate(r));
  t.equal(lines.length, 7, 'the next second logs again');
});
