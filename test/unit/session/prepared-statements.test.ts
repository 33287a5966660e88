// The bookkeeping behind re-checking prepared statements after a reload: nothing is asked before a reload;
// afterwards every known statement is asked once, new and closed statements are handled.
import t from 'tap';
import { PreparedStatements } from '../../../src/session/prepared-statements.js';

t.test('before a reload nothing needs checking', async (t) => {
  const p = new PreparedStatements();
  p.parsed('s1', 'insert into t values (1)');
  t.equal(p.stale, false);
  t.equal(p.needsRecheck('s1'), null);
});

t.test('after a reload each statement is checked once; statements parsed since are current', async (t) => {
  const p = new PreparedStatements();
  p.parsed('s1', 'insert into t values (1)');
  p.parsed('', 'select 1');
  p.rulesChanged();
  t.equal(p.stale, true);
  t.equal(p.needsRecheck('s1'), 'insert into t values (1)');
  t.equal(p.needsRecheck(''), 'select 1', 'the unnamed statement too');
  p.rechecked('s1');
  t.equal(p.needsRecheck('s1'), null);
  p.parsed('s2', 'select 2');
  t.equal(p.needsRecheck('s2'), null, 'parsed under the new rules');
  t.equal(p.needsRecheck('unknown'), null, 'not ours: the server will say it does not exist');
});

t.test('Close of a statement forgets it; Close of a portal does not', async (t) => {
  const p = new PreparedStatements();
  p.parsed('s1', 'select 1');
  p.rulesChanged();
  p.closed({ target: 'P', name: 's1' });
  t.equal(p.needsRecheck('s1'), 'select 1');
  p.closed({ target: 'S', name: 's1' });
  t.equal(p.needsRecheck('s1'), null);
});

t.test('a second reload asks again', async (t) => {
  const p = new PreparedStatements();
  p.parsed('s1', 'select 1');
  p.rulesChanged();
  p.rechecked('s1');
  p.rulesChanged();
  t.equal(p.needsRecheck('s1'), 'select 1');
});
