// The committed config/ysqlgate.schema.json must equal the one generated from the zod schema.
// Regenerate with: YSQLGATE_WRITE_SCHEMA=1 npx tap test/unit/config/json-schema.test.ts
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { configJsonSchema, configJsonSchemaText } from '../../../src/config/json-schema.js';

const FILE = path.resolve('config/ysqlgate.schema.json');

t.test('committed JSON Schema equals the generated one', async (t) => {
  const generated = configJsonSchemaText();
  if (process.env['YSQLGATE_WRITE_SCHEMA'] === '1') fs.writeFileSync(FILE, generated);
  t.equal(fs.readFileSync(FILE, 'utf8'), generated, 'run with YSQLGATE_WRITE_SCHEMA=1 to regenerate');
});

t.test('the JSON Schema describes the strict shape with defaults', async (t) => {
  const s = configJsonSchema() as Record<string, any>;
  t.equal(s['additionalProperties'], false);
  t.same(s['required']?.sort(), ['tls', 'upstream']);
  t.equal(s['properties'].tls.additionalProperties, false);
  t.same(s['properties'].tls.required, ['mode']);
  t.equal(s['properties'].listen.default, '0.0.0.0:5433');
  t.same(s['properties'].network.properties.allow.default, ['127.0.0.1/32', '::1/128']);
  t.equal(s['properties'].upstream.properties.tls.properties.mode.default, 'verify-full');
  t.equal(s['properties'].limits.properties.maxMessageSize.default, '64MiB');
  const keys = (o: Record<string, unknown>): string[] => Object.keys(o).sort();
  const example = parse(fs.readFileSync('config/ysqlgate.yaml', 'utf8')) as Record<string, unknown>;
  t.same(keys(s['properties']).filter((k) => k in example), keys(example), 'every top-level key of the example is described');
});
