// Topology discovery: asks one YSQL endpoint for `yb_servers()` (what YugabyteDB's smart drivers use) and
// turns the rows into endpoints with their placement. Values only; endpoints.ts keeps the list current.
import type { HostPort } from '../config/types.js';
import { openUpstream, type UpstreamTls } from './upstream.js';
import { closeQuietly, queryRows } from './upstream-query.js';
import type { ServiceIdentity } from './health.js';

export type Placement = { readonly cloud: string; readonly region: string; readonly zone: string };

export type DiscoveredServer = {
  readonly endpoint: HostPort;
  readonly placement: Placement;
  /** `node_type` is `read_replica`: such servers are recorded but never given sessions (see endpoints.ts). */
  readonly readReplica: boolean;
  readonly uuid: string;
};

export const YB_SERVERS_SQL = 'select host, port, num_connections, node_type, cloud, region, zone, public_ip, uuid from yb_servers()';

const MAX_SERVERS = 1000;

/** Logs in to `endpoint` and reads yb_servers(); throws on any failure (the caller keeps its last list). */
export async function discoverServers(
  endpoint: HostPort, tls: UpstreamTls, identity: ServiceIdentity, usePublicIp: boolean, timeoutMs: number,
): Promise<DiscoveredServer[]> {
  const connection = await openUpstream(endpoint, tls, { ...identity, parameters: { application_name: 'ysqlgate-discovery' } }, timeoutMs);
  try {
    const rows = await queryRows(connection, YB_SERVERS_SQL, timeoutMs);
    return parseServers(rows.slice(0, MAX_SERVERS), usePublicIp);
  } finally {
    closeQuietly(connection);
  }
}

/** Rows in YB_SERVERS_SQL column order → servers; rows without a usable host or port are skipped. */
export function parseServers(rows: ReadonlyArray<ReadonlyArray<string | null>>, usePublicIp: boolean): DiscoveredServer[] {
  const out: DiscoveredServer[] = [];
  for (const [host, port, , nodeType, cloud, region, zone, publicIp, uuid] of rows) {
    const address = usePublicIp && publicIp ? publicIp : host;
    const portNumber = Number(port);
    if (!address || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) continue;
    out.push({
      endpoint: { host: address, port: portNumber },
      placement: { cloud: cloud ?? '', region: region ?? '', zone: zone ?? '' },
      readReplica: nodeType === 'read_replica',
      uuid: uuid ?? '',
    });
  }
  return out;
}
