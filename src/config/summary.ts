// The human summary `ysqlgate check-config` prints for a valid config.
// Names users, roles and sources of secrets; never a verifier or a secret value.
import type { Config, HostPort, RuleConfig } from './types.js';
import { formatDuration, formatSize } from './units.js';

const hp = (h: HostPort): string => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`);

function ruleText(r: RuleConfig): string {
  const parts: string[] = [];
  parts.push(r.privileges.length > 0 ? r.privileges.join(',') : 'any privilege');
  if (r.objects.length > 0) parts.push(`on ${r.objects.join(', ')}`);
  if (r.functions.length > 0) parts.push(`functions ${r.functions.join(', ')}`);
  return parts.join(' ');
}

export function summarizeConfig(c: Config): string {
  const lines: string[] = [];
  lines.push(`config: ${c.sourceFile ?? '(inline)'}`);
  lines.push(`listen: ${hp(c.listen)} (workers: ${c.workers})`);
  const ca = c.tls.clientCAFile === null ? 'no client certificates' : `client CA ${c.tls.clientCAFile}`;
  lines.push(`tls: ${c.tls.mode}, min ${c.tls.minVersion}, cert ${c.tls.certFile}, key ${c.tls.keyFile}, ${ca}`);
  lines.push(`network allow: ${c.network.allow.join(', ')}`);
  if (c.network.trustedProxies.length > 0) lines.push(`trusted proxies: ${c.network.trustedProxies.join(', ')}`);
  const u = c.upstream;
  lines.push(`upstream: ${u.endpoints.map(hp).join(', ')} (tls ${u.tls.mode}, connect timeout ${formatDuration(u.connectTimeoutMs)})`);
  if (u.tls.mode === 'disable') lines.push('  warning: upstream TLS is disabled');
  if (u.discovery.ybServers) lines.push(`  discovery: yb_servers() every ${formatDuration(u.discovery.refreshMs)}`);
  if (u.placement.length > 0) lines.push(`  placement: ${u.placement.join(' > ')}`);
  if (c.peers.length > 0) lines.push(`peers: ${c.peers.map(hp).join(', ')}`);
  lines.push(`users (${c.users.length}):`);
  for (const user of c.users) {
    const secret = user.upstream.password;
    const up = secret.kind === 'password' ? secret.source : secret.kind;
    const from = user.from === null ? '' : ` from ${user.from.join(', ')}`;
    const cert = user.auth === 'scram' && user.clientCertificate === 'required' ? ' + client certificate' : '';
    lines.push(`  ${user.name}: ${user.auth}${cert}, roles ${user.roles.join(', ')}${from}; upstream ${user.upstream.user} (${up})`);
  }
  lines.push(`roles (${c.roles.length}):`);
  for (const role of c.roles) {
    lines.push(`  ${role.name}: databases ${role.databases.join(', ')}`);
    for (const r of role.allow) lines.push(`    allow ${ruleText(r)}`);
    for (const r of role.deny) lines.push(`    deny ${ruleText(r)}`);
  }
  const l = c.limits;
  lines.push(
    `limits: ${l.maxConnections} connections (${l.maxConnectionsPerUser} per user), startup timeout ${formatDuration(l.startupTimeoutMs)}, ` +
      `idle timeout ${l.idleTimeoutMs === 0 ? 'never' : formatDuration(l.idleTimeoutMs)}, max message ${formatSize(l.maxMessageSize)}`,
  );
  const a = l.authFailures;
  lines.push(`auth failures: ${a.max} per ${formatDuration(a.windowMs)}, lockout ${formatDuration(a.lockoutMs)}`);
  lines.push(`admin: ${c.admin.listen === null ? 'off' : hp(c.admin.listen)}`);
  lines.push(`log: ${c.log.level}, ${c.log.format}, statements ${c.log.statements}`);
  return `${lines.join('\n')}\n`;
}
