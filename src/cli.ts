#!/usr/bin/env node
// Command line (PRODUCT.md "Command line"): serve, check-config, hash-password, explain, demo, schema.
// Parses arguments and dispatches; every subcommand's work lives in its own module.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, defaultConfigPath, loadConfig, summarizeConfig } from './config/load.js';
import { configJsonSchemaText } from './config/json-schema.js';
import { createScramVerifier } from './auth/verifier.js';

const USAGE = `usage:
  ysqlgate [serve] [--config FILE]      run the proxy (default: $YSQLGATE_CONFIG or config/ysqlgate.yaml)
  ysqlgate check-config [--config FILE] validate the config and print a summary
  ysqlgate hash-password                read a password from stdin, print a SCRAM-SHA-256 verifier
  ysqlgate explain --user U [--database D] (--sql TEXT | --file F) [--config FILE]
                                        dry-run the access rules for each statement
  ysqlgate demo                         embedded PostgreSQL (stand-in for YSQL) + proxy with demo users
  ysqlgate schema                       print the JSON Schema of the config file
`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] && !argv[0].startsWith('-') ? argv[0] : 'serve';
  const rest = argv[0] === command ? argv.slice(1) : argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      user: { type: 'string', short: 'U' },
      database: { type: 'string', short: 'd' },
      sql: { type: 'string' },
      file: { type: 'string', short: 'f' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) { process.stdout.write(USAGE); return 0; }
  const configFile = values.config ?? defaultConfigPath();
  switch (command) {
    case 'serve': {
      const { serveWithWorkers } = await import('./workers.js');
      await serveWithWorkers(configFile); // workers: 1 → main.serve in this process
      return -1; // keeps running
    }
    case 'check-config': {
      const config = loadConfig(configFile);
      process.stdout.write(`${configFile}: OK\n${summarizeConfig(config)}\n`);
      return 0;
    }
    case 'hash-password':
      return hashPassword();
    case 'explain':
      return explain(configFile, values);
    case 'demo': {
      const { runDemo } = await import('./demo/run.js');
      await runDemo({});
      return -1;
    }
    case 'schema':
      process.stdout.write(configJsonSchemaText());
      return 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

async function hashPassword(): Promise<number> {
  const password = process.stdin.isTTY ? await promptHidden('Password: ') : await readAllStdin();
  if (password.length === 0) {
    process.stderr.write('hash-password: empty password on stdin\n');
    return 1;
  }
  process.stdout.write(`${createScramVerifier(password)}\n`);
  return 0;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads one line from the terminal without echoing it (a password typed by hand must not stay on screen). */
function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    process.stderr.write(prompt);
    const stdin = process.stdin;
    stdin.setRawMode(true);
    stdin.resume();
    let text = '';
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          resolve(text);
          return;
        }
        if (ch === '\u0003') { stdin.setRawMode(false); process.exit(130); } // Ctrl-C
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function explain(configFile: string, values: { user?: string; database?: string; sql?: string; file?: string }): Promise<number> {
  if (!values.user || (values.sql === undefined) === (values.file === undefined)) {
    process.stderr.write(`explain needs --user and exactly one of --sql or --file\n${USAGE}`);
    return 2;
  }
  const config = loadConfig(configFile);
  const user = config.users.find((u) => u.name === values.user);
  if (!user) {
    process.stderr.write(`explain: no user "${values.user}" in ${configFile}\n`);
    return 1;
  }
  const sql = values.sql ?? fs.readFileSync(values.file!, 'utf8');
  const { AccessPolicy, explainStatements, formatExplain, initPolicyParser } = await import('./policy/index.js');
  await initPolicyParser();
  const policy = new AccessPolicy(config.roles);
  const database = values.database ?? 'yugabyte';
  const lines = explainStatements(policy, user, database, sql);
  process.stdout.write(formatExplain(lines));
  if (!policy.mayOpenDatabase(user, database)) process.stdout.write(`note: user ${user.name} may not open database ${database}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
    } else {
      process.stderr.write(`ysqlgate: ${(err as Error)?.message ?? String(err)}\n`);
    }
    process.exitCode = 1;
  },
);
