#!/usr/bin/env node
// Chat driver: real `ws` clients against a broadcast chat socket.
//
// N clients connect to a ws:// URL; once every one of them is open, each sends M
// distinct text messages "c<i>-m<j>". A broadcast chat (the seed's example, in
// the @nitric/sdk app or in nitric-host's broadcast.so) sends every message to
// every connection, so each client must receive all N*M messages exactly once:
// no duplicate, none missing, nothing foreign, all as text frames, within the
// timeout. Then every client closes (1000) and the driver waits for the closes.
//
// Optionally first checks that a connect with a refused query (default
// "token=bad") gets no websocket: the upgrade must be answered with HTTP 403.
//
// Usable as a CLI (exit 0 pass, 1 fail, 2 usage) or as a module:
//   import { runChat, checkRejected } from './chat-driver.mjs'
//
//   node chat-driver.mjs --url ws://127.0.0.1:4001 [--clients 20] [--messages 20]
//        [--timeout-ms 30000] [--settle-ms 300] [--reject-query token=bad]
//        [--reject-status 403] [--no-reject-check] [--check-order] [--json]
import WebSocket from 'ws';
import { pathToFileURL } from 'node:url';

const now = () => performance.now();
const ms = (t) => `${Math.round(t)} ms`;

// Sets each parameter of `query` on `url`, replacing a value the URL already
// has: the refused client must not also carry the good clients' token.
function withQuery(url, query) {
  const u = new URL(url);
  for (const [k, v] of new URLSearchParams(query)) u.searchParams.set(k, v);
  return u.toString();
}

// Connects one client that must be refused. Resolves to a result object; never
// rejects.
export function checkRejected({ url, query = 'token=bad', expectStatus = 403, timeoutMs = 5000 }) {
  const target = withQuery(url, query);
  const started = now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok, detail) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        ws.terminate();
      } catch {}
      resolve({ ok, url: target, detail, elapsedMs: Math.round(now() - started) });
    };
    const ws = new WebSocket(target, { handshakeTimeout: timeoutMs });
    const timer = setTimeout(() => finish(false, `no answer to the upgrade within ${timeoutMs} ms`), timeoutMs);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        if (body.length < 500) body += c;
      });
      const report = () => {
        const status = res.statusCode;
        const text = `HTTP ${status} ${res.statusMessage ?? ''}${body ? `, body: ${JSON.stringify(body.trim())}` : ''}`;
        if (status === expectStatus) finish(true, `refused as expected: ${text}`);
        else finish(false, `refused with the wrong status (expected ${expectStatus}): ${text}`);
      };
      res.on('end', report);
      res.on('error', report);
      res.on('close', report);
    });
    ws.on('open', () => finish(false, 'the upgrade was ACCEPTED: the client got a websocket'));
    ws.on('error', (err) => finish(false, `connection error before any HTTP answer: ${err.message}`));
  });
}

// Runs the chat. Resolves to a report { ok, failures[], stats }; never rejects.
export async function runChat({
  url,
  clients: n = 20,
  messages: m = 20,
  timeoutMs = 30000,
  settleMs = 300,
  checkOrder = false,
  log = () => {},
}) {
  const t0 = now();
  const failures = [];
  const fail = (msg) => {
    if (failures.length < 200) failures.push(msg);
  };
  const deadline = t0 + timeoutMs;
  const expected = n * m;

  // Per client: received counts per message text, order tracking per sender.
  const state = Array.from({ length: n }, () => ({
    ws: null,
    opened: false,
    closedEarly: null,
    received: new Map(), // text -> count
    total: 0,
    binaryFrames: 0,
    foreign: [],
    lastSeq: new Array(n).fill(-1), // per sender: last j seen
    outOfOrder: 0,
    completeAt: null,
  }));
  let finishing = false;
  let completeCount = 0;
  let onProgress = () => {};

  const parse = (text) => {
    const mt = /^c(\d+)-m(\d+)$/.exec(text);
    if (!mt) return null;
    const i = Number(mt[1]);
    const j = Number(mt[2]);
    return i < n && j < m ? { i, j } : null;
  };

  // 1. Connect every client.
  const opens = state.map(
    (st, idx) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url, { handshakeTimeout: Math.max(1000, deadline - now()) });
        st.ws = ws;
        ws.on('open', () => {
          st.opened = true;
          resolve(true);
        });
        ws.on('unexpected-response', (req, res) => {
          fail(`client ${idx}: upgrade refused with HTTP ${res.statusCode} ${res.statusMessage ?? ''}`);
          res.resume();
          resolve(false);
        });
        ws.on('error', (err) => {
          if (!st.opened) {
            fail(`client ${idx}: connect error: ${err.message}`);
            resolve(false);
          } else if (!finishing) {
            fail(`client ${idx}: socket error: ${err.message}`);
          }
        });
        ws.on('close', (code, reason) => {
          if (!st.opened) resolve(false);
          else if (!finishing) {
            st.closedEarly = `${code}${reason?.length ? ` ${reason}` : ''}`;
            fail(`client ${idx}: closed by the server during the chat (code ${st.closedEarly})`);
            onProgress();
          }
        });
        ws.on('message', (data, isBinary) => {
          if (isBinary) st.binaryFrames++;
          const text = Buffer.from(data).toString('utf8');
          const id = parse(text);
          if (!id) {
            if (st.foreign.length < 5) st.foreign.push(text.slice(0, 80));
            return;
          }
          const count = (st.received.get(text) ?? 0) + 1;
          st.received.set(text, count);
          st.total++;
          if (count === 2) fail(`client ${idx}: duplicate delivery of "${text}"`);
          if (id.j <= st.lastSeq[id.i]) st.outOfOrder++;
          else st.lastSeq[id.i] = id.j;
          if (st.received.size === expected && st.completeAt === null) {
            st.completeAt = now();
            completeCount++;
            onProgress();
          }
        });
      }),
  );
  let connectTimer;
  const openResult = await Promise.race([
    Promise.all(opens),
    new Promise((r) => (connectTimer = setTimeout(() => r('timeout'), Math.max(0, deadline - now())))),
  ]);
  clearTimeout(connectTimer);
  const tConnected = now();
  const openCount = state.filter((s) => s.opened).length;
  log(`connected ${openCount}/${n} clients in ${ms(tConnected - t0)}`);
  if (openResult === 'timeout' || openCount !== n) {
    if (openResult === 'timeout') fail(`only ${openCount}/${n} clients connected within ${timeoutMs} ms`);
    return finish();
  }

  // 2. Every client sends its M messages (in order, on its own connection).
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) state[i].ws.send(`c${i}-m${j}`);
  }
  const tSent = now();
  log(`sent ${n * m} messages; waiting for ${n} x ${expected} = ${n * expected} deliveries`);

  // 3. Wait until every client has every message (or the deadline, or a
  // client was dropped), then a short settle period to catch late duplicates.
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, deadline - now()));
    onProgress = () => {
      if (completeCount === n || state.some((s) => s.closedEarly)) {
        clearTimeout(timer);
        resolve();
      }
    };
    onProgress();
  });
  const tDelivered = now();
  if (completeCount === n) await new Promise((r) => setTimeout(r, settleMs));
  return finish(tSent, tDelivered);

  async function finish(tSentArg, tDeliveredArg) {
    // Verification of what every client received.
    let deliveries = 0;
    for (let idx = 0; idx < n; idx++) {
      const st = state[idx];
      deliveries += st.total;
      if (!st.opened) continue;
      if (tSentArg === undefined) continue; // never got to the sending stage
      const missing = [];
      for (let i = 0; i < n; i++)
        for (let j = 0; j < m; j++) if (!st.received.has(`c${i}-m${j}`)) missing.push(`c${i}-m${j}`);
      const dups = [...st.received.values()].filter((c) => c > 1).length;
      if (missing.length)
        fail(
          `client ${idx}: ${missing.length}/${expected} messages missing (got ${st.received.size} distinct, ${st.total} total), e.g. ${missing.slice(0, 5).join(', ')}`,
        );
      if (dups) fail(`client ${idx}: ${dups} message(s) delivered more than once`);
      if (st.foreign.length) fail(`client ${idx}: unexpected message(s): ${st.foreign.map((f) => JSON.stringify(f)).join(', ')}`);
      if (st.binaryFrames) fail(`client ${idx}: ${st.binaryFrames} message(s) arrived as binary frames, expected text`);
      if (checkOrder && st.outOfOrder) fail(`client ${idx}: ${st.outOfOrder} message(s) out of per-sender order`);
    }

    // Close every client and wait for the close handshakes.
    finishing = true;
    const tCloseStart = now();
    await Promise.all(
      state.map(
        (st) =>
          new Promise((resolve) => {
            const ws = st.ws;
            if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
            const t = setTimeout(() => {
              ws.terminate();
              resolve();
            }, 3000);
            ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
            else ws.close(1000, 'done');
          }),
      ),
    );
    const tEnd = now();
    const outOfOrder = state.reduce((a, s) => a + s.outOfOrder, 0);
    const stats = {
      url,
      clients: n,
      messagesPerClient: m,
      connected: openCount,
      expectedDeliveries: n * expected,
      deliveries,
      complete: completeCount,
      outOfOrder,
      connectMs: Math.round(tConnected - t0),
      deliverMs: tSentArg !== undefined ? Math.round(tDeliveredArg - tSentArg) : null,
      closeMs: Math.round(tEnd - tCloseStart),
      totalMs: Math.round(tEnd - t0),
    };
    if (stats.deliverMs) stats.deliveriesPerSec = Math.round((deliveries * 1000) / stats.deliverMs);
    return { ok: failures.length === 0, failures, stats };
  }
}

function parseArgs(argv) {
  const opts = {
    url: null,
    clients: 20,
    messages: 20,
    timeoutMs: 30000,
    settleMs: 300,
    rejectQuery: 'token=bad',
    rejectStatus: 403,
    rejectCheck: true,
    checkOrder: false,
    json: false,
  };
  const num = (name, v) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) throw new Error(`${name} needs a non-negative integer, got ${v}`);
    return x;
  };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const val = () => {
      if (k + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++k];
    };
    switch (a) {
      case '--url': opts.url = val(); break;
      case '--clients': opts.clients = num(a, val()); break;
      case '--messages': opts.messages = num(a, val()); break;
      case '--timeout-ms': opts.timeoutMs = num(a, val()); break;
      case '--settle-ms': opts.settleMs = num(a, val()); break;
      case '--reject-query': opts.rejectQuery = val(); break;
      case '--reject-status': opts.rejectStatus = num(a, val()); break;
      case '--no-reject-check': opts.rejectCheck = false; break;
      case '--check-order': opts.checkOrder = true; break;
      case '--json': opts.json = true; break;
      case '-h':
      case '--help':
        opts.help = true;
        break;
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  if (!opts.help) {
    if (!opts.url) throw new Error('--url ws://HOST:PORT is required');
    if (!/^wss?:\/\//.test(opts.url)) throw new Error(`--url must be ws:// or wss://, got ${opts.url}`);
    if (opts.clients < 1 || opts.messages < 1) throw new Error('--clients and --messages must be at least 1');
  }
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`chat-driver: ${e.message} (see --help)`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(
      'usage: chat-driver.mjs --url ws://HOST:PORT [--clients N] [--messages M] [--timeout-ms T]\n' +
        '         [--settle-ms S] [--reject-query Q] [--reject-status CODE] [--no-reject-check]\n' +
        '         [--check-order] [--json]',
    );
    return;
  }
  const log = (s) => console.log(`chat-driver: ${s}`);
  let ok = true;
  const result = {};
  if (opts.rejectCheck) {
    const r = await checkRejected({ url: opts.url, query: opts.rejectQuery, expectStatus: opts.rejectStatus });
    result.rejected = r;
    log(`${r.ok ? 'PASS' : 'FAIL'} rejected client (?${opts.rejectQuery}): ${r.detail}`);
    ok &&= r.ok;
  }
  const chat = await runChat({ ...opts, log });
  result.chat = chat;
  const s = chat.stats;
  log(
    `${chat.ok ? 'PASS' : 'FAIL'} chat: ${s.connected}/${s.clients} clients, ${s.clients}x${s.messagesPerClient} messages, ` +
      `${s.deliveries}/${s.expectedDeliveries} deliveries, ${s.complete}/${s.clients} clients complete, ` +
      `out-of-order ${s.outOfOrder}${opts.checkOrder ? '' : ' (not checked)'}; connect ${s.connectMs} ms, ` +
      `deliver ${s.deliverMs ?? '-'} ms${s.deliveriesPerSec ? ` (${s.deliveriesPerSec}/s)` : ''}, close ${s.closeMs} ms`,
  );
  for (const f of chat.failures) log(`  - ${f}`);
  ok &&= chat.ok;
  if (opts.json) console.log(JSON.stringify({ ok, ...result }));
  process.exitCode = ok ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(`chat-driver: internal error: ${e.stack ?? e}`);
    process.exit(1);
  });
}
