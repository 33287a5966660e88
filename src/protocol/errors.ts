// The one fault type of the protocol codec: a peer broke the wire format.
// `reason` is a short stable code for logs/metrics; `message` is safe to show a client. Never carries peer bytes.

export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}
