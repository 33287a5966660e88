// JSON Schema of the config file, generated from the same zod schema that validates it (input side, with defaults).
// Written to config/ysqlgate.schema.json by `ysqlgate schema` / test/unit/config/json-schema.test.ts.
import { z } from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): object {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
  return { ...schema, title: 'ysqlgate configuration', description: 'config/ysqlgate.yaml; see PRODUCT.md' };
}

/** The committed file's exact text: two-space JSON with a trailing newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
