import t from 'tap';
import {
  createScramVerifier, formatScramVerifier, parseScramVerifier, saslprep, verifyScramPassword,
} from '../../../src/auth/verifier.js';

// Verifiers produced by PostgreSQL 15.18 (`create role rN password ...` with password_encryption=scram-sha-256).
const PG_FIXTURES: readonly { name: string; password: string; verifier: string; notEquivalent: string }[] = [
  { name: 'ascii', password: 'pencil', notEquivalent: 'Pencil',
    verifier: 'SCRAM-SHA-256$4096:bHGeKZs3E475+94REbU6sA==$gaR2rcKHdZOmCfNt8vOUdxuBZ/mD3RAKgRPdEI5JKBM=:Mn2rOsEX/foeAgijWNtIJclHE2+ViCMTpldFmuRez2Q=' },
  { name: 'NFKC applied', password: '\u00dcn\u00efc\u00f6d\u00e9 \ufb01 pass', notEquivalent: 'Unicode fi pass',
    verifier: 'SCRAM-SHA-256$4096:0fvhHLq8QhEYUUuRTSSncg==$VBw/vre3PC22C1hlHHow1o3qVK/iLwcXE8aoM4pBH4A=:IQ3KTfChSqf+r0aznx2QDW6NDIP3vLGbRVLwzkzxNOE=' },
  { name: 'prohibited control char: raw', password: '\u00e9\u0007x', notEquivalent: '\u00e9x',
    verifier: 'SCRAM-SHA-256$4096:h6v3nYxQLFoWTma8hSmwmw==$uznCKm90maOOfH/42T5dP9NAUmBHx/eX2wDSgRprZgk=:4MioTP9AJ5K1uuV9lRX8fnpfPetwclypj8mVrCY230w=' },
  { name: 'bidi L + RandAL: raw', password: '\ufb01\u05d0', notEquivalent: 'fi\u05d0',
    verifier: 'SCRAM-SHA-256$4096:KJrP8g8oCDiIN5xVW0E4JA==$dd09bGTm8W/EQ/zyp5CA5ATj3OjA4DORQAaNsfVgt78=:JxxGS+k+eIoWRnoRhj8Ep3ZN2w/f8ol+l2zimffL6HU=' },
  { name: 'space mapped, soft hyphen removed', password: 'a\u00a0b\u00adc\ufb01', notEquivalent: 'a\u00a0bc',
    verifier: 'SCRAM-SHA-256$4096:8fHorJb/xM1AtAakEeY1Lw==$cvmA6q4YvuUoXf3Q5d4aE/vd6tAzsUWAsUATo22gDXg=:88EWAh14W8HxU8HEQkmE/hSm+PI/fxlGOvNs5yOx378=' },
  { name: 'unassigned in Unicode 3.2: raw', password: '\u{1f600}\ufb01', notEquivalent: '\u{1f600}fi',
    verifier: 'SCRAM-SHA-256$4096:mej5QLFyeZoa74i+W7fwJw==$77LaPtCAUZ/B0ekwBLQmVRsKf6b5C2un05kgcbxoSAI=:MSio7jsqanNy1za1ggrz6nds4XfJLvB7LvPI94iC6Nk=' },
  { name: 'RandAL with L inside: raw', password: '\u05d0\ufb01\u05d1', notEquivalent: '\u05d0fi\u05d1',
    verifier: 'SCRAM-SHA-256$4096:cpoQo2nc+m3lxDCFOcYpnQ==$18tWU2Zjri2Zgt08HEINaLyNPUMh+TJD6L1Bzo65Ddw=:y9EGfhwCj3yBgRaVUAkrwJ5VfbP31m9gt9Fwm8D1xbo=' },
];

t.test('PostgreSQL 15 verifiers accept the right password and refuse others', async (t) => {
  for (const f of PG_FIXTURES) {
    const v = parseScramVerifier(f.verifier);
    t.ok(v, `${f.name}: parses`);
    if (!v) continue;
    t.equal(formatScramVerifier(v), f.verifier, `${f.name}: round-trips`);
    t.ok(verifyScramPassword(f.password, v), `${f.name}: right password`);
    t.notOk(verifyScramPassword(f.notEquivalent, v), `${f.name}: other password refused`);
    t.notOk(verifyScramPassword(f.password + 'x', v), `${f.name}: longer password refused`);
  }
});

t.test('SASLprep-equivalent spellings verify (NFKC, mapping)', async (t) => {
  const v2 = parseScramVerifier(PG_FIXTURES[1]!.verifier)!;
  t.ok(verifyScramPassword('U\u0308ni\u0308co\u0308de\u0301 fi pass', v2), 'decomposed + ligature expanded');
  const v5 = parseScramVerifier(PG_FIXTURES[4]!.verifier)!;
  t.ok(verifyScramPassword('a bcfi', v5), 'mapped form');
});

t.test('createScramVerifier matches PostgreSQL for the same salt', async (t) => {
  for (const f of PG_FIXTURES) {
    const v = parseScramVerifier(f.verifier)!;
    t.equal(createScramVerifier(f.password, { salt: v.salt, iterations: v.iterations }), f.verifier, f.name);
  }
  const fresh = parseScramVerifier(createScramVerifier('secret'));
  t.ok(fresh);
  t.equal(fresh!.iterations, 4096);
  t.equal(fresh!.salt.length, 16);
  t.not(createScramVerifier('secret'), createScramVerifier('secret'), 'random salt');
  t.throws(() => createScramVerifier('x', { iterations: 0 }));
  t.throws(() => createScramVerifier('x', { iterations: 10_000_001 }));
  t.throws(() => createScramVerifier('x', { salt: Buffer.alloc(0) }));
});

t.test('parseScramVerifier is strict', async (t) => {
  const good = PG_FIXTURES[0]!.verifier;
  const [, rest] = good.split('SCRAM-SHA-256$');
  const [iterSalt, keys] = rest!.split('$') as [string, string];
  const [, salt] = iterSalt.split(':') as [string, string];
  const [stored, server] = keys.split(':') as [string, string];
  const key31 = Buffer.alloc(31, 1).toString('base64');
  const key33 = Buffer.alloc(33, 1).toString('base64');
  const bad: [string, string][] = [
    ['empty', ''],
    ['md5 verifier', 'md5' + 'a'.repeat(32)],
    ['lowercase mechanism', good.replace('SCRAM-SHA-256', 'scram-sha-256')],
    ['iterations 0', `SCRAM-SHA-256$0:${salt}$${keys}`],
    ['iterations leading zero', `SCRAM-SHA-256$04096:${salt}$${keys}`],
    ['iterations too large', `SCRAM-SHA-256$10000001:${salt}$${keys}`],
    ['iterations negative', `SCRAM-SHA-256$-1:${salt}$${keys}`],
    ['iterations not a number', `SCRAM-SHA-256$4k:${salt}$${keys}`],
    ['empty salt', `SCRAM-SHA-256$4096:$${keys}`],
    ['salt missing padding', `SCRAM-SHA-256$4096:${salt.replace(/=+$/, '')}$${keys}`],
    ['salt non-canonical bits', `SCRAM-SHA-256$4096:${salt.slice(0, 21)}B==$${keys}`],
    ['salt url-safe alphabet', `SCRAM-SHA-256$4096:${salt.replace(/[+/]/g, '-')}-$${keys}`],
    ['stored key 31 bytes', `SCRAM-SHA-256$4096:${salt}$${key31}:${server}`],
    ['server key 33 bytes', `SCRAM-SHA-256$4096:${salt}$${stored}:${key33}`],
    ['missing server key', `SCRAM-SHA-256$4096:${salt}$${stored}`],
    ['trailing garbage', `${good}x`],
    ['trailing newline', `${good}\n`],
    ['leading space', ` ${good}`],
    ['extra field', `${good}:${server}`],
  ];
  t.ok(parseScramVerifier(good), 'control: the good one parses');
  t.ok(parseScramVerifier(`SCRAM-SHA-256$1:${salt}$${keys}`), 'iterations 1 accepted');
  t.ok(parseScramVerifier(`SCRAM-SHA-256$10000000:${salt}$${keys}`), 'iterations 10M accepted');
  for (const [name, text] of bad) t.equal(parseScramVerifier(text), null, name);
});

t.test('saslprep follows PostgreSQL', async (t) => {
  t.equal(saslprep('pencil'), 'pencil');
  t.equal(saslprep('a\u0007b'), 'a\u0007b', 'pure ASCII is untouched, even control characters');
  t.equal(saslprep('\u00a0a\u2003b'), ' a b', 'non-ASCII spaces map to space');
  t.equal(saslprep('a\u00adb\u200cc\u034f'), 'abc', 'mapped to nothing');
  t.equal(saslprep('a\u200bb'), 'a b', 'U+200B is in both tables: the space mapping wins, as in PostgreSQL');
  t.equal(saslprep('\ufb01'), 'fi', 'NFKC');
  t.equal(saslprep('\u2168'), 'IX', 'NFKC roman numeral');
  t.equal(saslprep('e\u0301'), '\u00e9', 'NFKC composes');
  t.equal(saslprep('\u00ad'), '\u00ad', 'empty after mapping: raw');
  t.equal(saslprep('\u00e9\u0007'), '\u00e9\u0007', 'prohibited: raw');
  t.equal(saslprep('\u00e9\ue000'), '\u00e9\ue000', 'private use: raw');
  t.equal(saslprep('\u0221\ufb01'), '\u0221\ufb01', 'unassigned in 3.2: raw');
  t.equal(saslprep('\u05d0\u05d1'), '\u05d0\u05d1', 'RandAL only: ok');
  t.equal(saslprep('\u05d01\u05d1'), '\u05d01\u05d1', 'RandAL with neutral inside: ok');
  t.equal(saslprep('1\u05d0'), '1\u05d0', 'RandAL not first: raw (identical here)');
  t.equal(saslprep('\u05d0a\u05d1\ufb01'), '\u05d0a\u05d1\ufb01', 'RandAL with L: raw, not normalized');
  t.equal(saslprep('\ud800\u00e9'), '\ud800\u00e9', 'lone surrogate: raw');
});
