// Public surface of the access-rules engine (issue 3). Pure: callers log, count and send errors.
// Nothing outside src/policy/ may import the parser or the internal modules directly.
import { initParser } from './classify.js';

export { AccessPolicy, type AccessDecision, type SessionGuard } from './access-policy.js';
export { explainStatements, formatExplain, type ExplainLine } from './explain.js';
export { redactSql } from './normalize.js';
export { ParserNotLoadedError } from './classify.js';

/** Loads the WASM parser; idempotent. Must complete before any check. */
export async function initPolicyParser(): Promise<void> {
  await initParser();
}
