// PostgreSQL wire protocol constants: message type bytes and special startup request codes.
// Pure data; nothing here parses or allocates.
// https://www.postgresql.org/docs/current/protocol-message-formats.html

export const PROTOCOL_3_0 = 196608; // (3 << 16) | 0
export const SSL_REQUEST_CODE = 80877103; // 1234.5679
export const GSSENC_REQUEST_CODE = 80877104; // 1234.5680
export const CANCEL_REQUEST_CODE = 80877102; // 1234.5678

export const FrontendCode = {
  Query: 0x51,
  Parse: 0x50,
  Bind: 0x42,
  Execute: 0x45,
  Describe: 0x44,
  Close: 0x43,
  Sync: 0x53,
  Flush: 0x48,
  FunctionCall: 0x46,
  Terminate: 0x58,
  CopyData: 0x64,
  CopyDone: 0x63,
  CopyFail: 0x66,
  Password: 0x70 /* also SASLInitialResponse, SASLResponse, GSSResponse */,
} as const;
export type FrontendCode = (typeof FrontendCode)[keyof typeof FrontendCode];

export const BackendCode = {
  Authentication: 0x52,
  BackendKeyData: 0x4b,
  BindComplete: 0x32,
  CloseComplete: 0x33,
  CommandComplete: 0x43,
  CopyData: 0x64,
  CopyDone: 0x63,
  CopyInResponse: 0x47,
  CopyOutResponse: 0x48,
  CopyBothResponse: 0x57,
  DataRow: 0x44,
  EmptyQueryResponse: 0x49,
  ErrorResponse: 0x45,
  FunctionCallResponse: 0x56,
  NegotiateProtocolVersion: 0x76,
  NoData: 0x6e,
  NoticeResponse: 0x4e,
  NotificationResponse: 0x41,
  ParameterDescription: 0x74,
  ParameterStatus: 0x53,
  ParseComplete: 0x31,
  PortalSuspended: 0x73,
  ReadyForQuery: 0x5a,
  RowDescription: 0x54,
} as const;
export type BackendCode = (typeof BackendCode)[keyof typeof BackendCode];
