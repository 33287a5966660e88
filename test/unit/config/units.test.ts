import t from 'tap';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../../src/config/units.js';

t.test('parseDuration accepts the documented forms', async (t) => {
  const cases: Array<[string, number]> = [
    ['500ms', 500], ['10s', 10_000], ['5m', 300_000], ['1h', 3_600_000], ['0s', 0], ['0', 0], ['0ms', 0],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text);
});

t.test('parseDuration refuses everything else', async (t) => {
  for (const text of ['', '10', '1.5s', '-1s', '10 s', '10S', '1d', '01s', 's', '10sec', ' 10s', '1e3ms', '9999999999h']) {
    t.throws(() => parseDuration(text), JSON.stringify(text));
  }
});

t.test('parseDuration refuses delays Node timers cannot hold (they would fire at once)', async (t) => {
  t.equal(parseDuration('2147483647ms'), 2_147_483_647);
  t.throws(() => parseDuration('2147483648ms'), /too long/);
  t.throws(() => parseDuration('30d'));
  t.throws(() => parseDuration('600h'), /too long/);
});

t.test('parseSize', async (t) => {
  const cases: Array<[string, number]> = [
    ['64MiB', 67_108_864], ['512KiB', 524_288], ['1GiB', 1_073_741_824], ['100B', 100], ['4096', 4096], ['0', 0],
  ];
  for (const [text, bytes] of cases) t.equal(parseSize(text), bytes, text);
  for (const text of ['', '64MB', '64mib', '64 MiB', '1.5MiB', '-1', 'MiB', '064KiB', '1TiB']) {
    t.throws(() => parseSize(text), JSON.stringify(text));
  }
});

t.test('format round-trips to the largest exact unit', async (t) => {
  t.equal(formatDuration(0), '0s');
  t.equal(formatDuration(1500), '1500ms');
  t.equal(formatDuration(300_000), '5m');
  t.equal(formatDuration(7_200_000), '2h');
  t.equal(formatDuration(90_000), '90s');
  t.equal(formatSize(67_108_864), '64MiB');
  t.equal(formatSize(1536), '1536B');
  t.equal(formatSize(2048), '2KiB');
  t.equal(formatSize(0), '0B');
  for (const text of ['500ms', '10s', '5m', '1h']) t.equal(formatDuration(parseDuration(text)), text);
});
