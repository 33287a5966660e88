// Test helper: assert that a function throws ProtocolViolation with a given reason.
import type { Test } from 'tap';
import { ProtocolViolation } from '../../src/protocol/errors.js';

export function throwsReason(t: Test, fn: () => unknown, reason: string, msg = reason): void {
  let got: unknown;
  try {
    fn();
  } catch (e) {
    got = e;
  }
  t.ok(got instanceof ProtocolViolation && got.reason === reason, msg, { got: got instanceof ProtocolViolation ? got.reason : String(got) });
}
