// Free loopback ports for tests. A port can be taken between pick and bind: prefer listening on port 0.
import { pickFreePort } from '../../src/demo/postgres.js';

export const freePort = pickFreePort;
