#!/usr/bin/env node
// A small gRPC client of the membrane for the e2e tests, built on @grpc/grpc-js
// and @grpc/proto-loader with this repository's own proto files (proto/), so it
// is independent of the app under test.
//
//   membrane-probe.mjs socket-url    --address HOST:PORT --socket NAME
//       prints the ws:// URL that Websocket.SocketDetails answers
//   membrane-probe.mjs kv-keys       --address HOST:PORT --store NAME [--prefix P]
//       prints the keys KvStore.ScanKeys streams, one per line
//   membrane-probe.mjs kv-wait-empty --address HOST:PORT --store NAME [--timeout-ms T]
//       polls ScanKeys until the store has no key; exit 1 listing the keys left
//   membrane-probe.mjs wait-socket-ready --url ws://HOST:PORT [--events connect,disconnect,message]
//                      [--connections N] [--timeout-ms T]
//       polls the gateway's status page (plain GET / on the socket's port) until
//       the listed event types are registered (and, with --connections, until
//       the live connection count is N); exit 1 showing the last status seen
//
// --address defaults to $SERVICE_ADDRESS, then 127.0.0.1:50051. Every call has a
// deadline (--deadline-ms, default 3000). Exit 0 ok, 1 failure, 2 usage.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const here = path.dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) console.error(`membrane-probe: ${msg}`);
  console.error(
    'usage: membrane-probe.mjs socket-url|kv-keys|kv-wait-empty --address HOST:PORT\n' +
      '         [--socket NAME] [--store NAME] [--prefix P] [--timeout-ms T] [--deadline-ms D] [--proto-dir DIR]',
  );
  process.exit(2);
}

const argv = process.argv.slice(2);
const cmd = argv.shift();
const opts = {
  address: process.env.SERVICE_ADDRESS || '127.0.0.1:50051',
  protoDir: path.resolve(here, '../../proto'),
  prefix: '',
  timeoutMs: 5000,
  deadlineMs: 3000,
};
for (let k = 0; k < argv.length; k++) {
  const a = argv[k];
  const v = argv[k + 1];
  if (v === undefined) usage(`${a} needs a value`);
  k++;
  switch (a) {
    case '--address': opts.address = v; break;
    case '--socket': opts.socket = v; break;
    case '--store': opts.store = v; break;
    case '--prefix': opts.prefix = v; break;
    case '--timeout-ms': opts.timeoutMs = Number(v); break;
    case '--deadline-ms': opts.deadlineMs = Number(v); break;
    case '--proto-dir': opts.protoDir = path.resolve(v); break;
    case '--url': opts.url = v; break;
    case '--events': opts.events = v.split(',').filter(Boolean); break;
    case '--connections': opts.connections = Number(v); break;
    default: usage(`unknown argument ${a}`);
  }
}

function load(file) {
  const def = protoLoader.loadSync(path.join(opts.protoDir, file), {
    includeDirs: [opts.protoDir],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(def);
}

const deadline = () => new Date(Date.now() + opts.deadlineMs);
const describe = (err) => `${grpc.status[err.code] ?? err.code}: ${err.details ?? err.message}`;

function socketUrl(client, socket) {
  return new Promise((resolve, reject) => {
    client.SocketDetails({ socketName: socket }, { deadline: deadline() }, (err, res) =>
      err ? reject(new Error(`SocketDetails(${socket}) failed: ${describe(err)}`)) : resolve(res.url),
    );
  });
}

function scanKeys(client, store, prefix) {
  return new Promise((resolve, reject) => {
    const keys = [];
    const call = client.ScanKeys({ store: { name: store }, prefix }, { deadline: deadline() });
    call.on('data', (r) => keys.push(r.key));
    call.on('error', (err) => reject(new Error(`ScanKeys(${store}, "${prefix}") failed: ${describe(err)}`)));
    call.on('end', () => resolve(keys));
  });
}

// The status page's JSON: which event types are registered and how many
// connections are live. Read loosely (the field names are the membrane's): event
// names found as array items, or as object keys with a truthy value; the count
// from the first numeric field whose name mentions "connection".
function readStatus(json) {
  const events = new Set();
  let connections;
  const names = new Set(['connect', 'disconnect', 'message']);
  const walk = (v, key) => {
    if (Array.isArray(v)) {
      for (const x of v) {
        if (typeof x === 'string' && names.has(x.toLowerCase())) events.add(x.toLowerCase());
        else walk(x);
      }
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (names.has(k.toLowerCase()) && x && typeof x !== 'object') events.add(k.toLowerCase());
        if (connections === undefined && typeof x === 'number' && /conn/i.test(k)) connections = x;
        walk(x, k);
      }
    }
  };
  walk(json);
  return { events, connections };
}

async function fetchStatus(url) {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  const res = await fetch(u, { signal: AbortSignal.timeout(opts.deadlineMs) });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${u} answered HTTP ${res.status}: ${body.slice(0, 200)}`);
  try {
    return { body, json: JSON.parse(body) };
  } catch {
    throw new Error(`GET ${u} answered something that is not JSON: ${body.slice(0, 200)}`);
  }
}

async function main() {
  switch (cmd) {
    case 'wait-socket-ready': {
      if (!opts.url) usage('wait-socket-ready needs --url');
      const want = opts.events ?? ['connect', 'disconnect', 'message'];
      const start = Date.now();
      let last = 'no answer yet';
      for (;;) {
        try {
          const { body, json } = await fetchStatus(opts.url);
          const st = readStatus(json);
          last = body.trim().slice(0, 300);
          const eventsOk = want.every((e) => st.events.has(e));
          const connOk = opts.connections === undefined || st.connections === opts.connections;
          if (eventsOk && connOk) {
            console.log(`socket status as wanted after ${Date.now() - start} ms: ${last}`);
            return 0;
          }
        } catch (e) {
          last = e.message;
        }
        if (Date.now() - start > opts.timeoutMs) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      console.error(
        `membrane-probe: after ${opts.timeoutMs} ms the status of ${opts.url} still lacks ` +
          `events [${want.join(', ')}]${opts.connections !== undefined ? ` / ${opts.connections} connections` : ''}; last: ${last}`,
      );
      return 1;
    }
    case 'socket-url': {
      if (!opts.socket) usage('socket-url needs --socket');
      const ws = load('nitric/proto/websockets/v1/websockets.proto').nitric.proto.websockets.v1;
      const client = new ws.Websocket(opts.address, grpc.credentials.createInsecure());
      const url = await socketUrl(client, opts.socket);
      client.close();
      if (!url) throw new Error(`SocketDetails(${opts.socket}) answered an empty url`);
      console.log(url);
      return 0;
    }
    case 'kv-keys':
    case 'kv-wait-empty': {
      if (!opts.store) usage(`${cmd} needs --store`);
      const kv = load('nitric/proto/kvstore/v1/kvstore.proto').nitric.proto.kvstore.v1;
      const client = new kv.KvStore(opts.address, grpc.credentials.createInsecure());
      try {
        if (cmd === 'kv-keys') {
          for (const key of await scanKeys(client, opts.store, opts.prefix)) console.log(key);
          return 0;
        }
        const start = Date.now();
        let keys;
        for (;;) {
          keys = await scanKeys(client, opts.store, opts.prefix);
          if (keys.length === 0) {
            console.log(`store '${opts.store}' is empty (after ${Date.now() - start} ms)`);
            return 0;
          }
          if (Date.now() - start > opts.timeoutMs) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        console.error(
          `membrane-probe: store '${opts.store}' still holds ${keys.length} key(s) after ${opts.timeoutMs} ms: ` +
            keys.slice(0, 10).join(', ') + (keys.length > 10 ? ', ...' : ''),
        );
        return 1;
      } finally {
        client.close();
      }
    }
    default:
      usage(cmd ? `unknown command ${cmd}` : 'a command is required');
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`membrane-probe: ${err.message}`);
    process.exit(1);
  },
);
