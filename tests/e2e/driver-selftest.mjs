#!/usr/bin/env node
// Self-test of chat-driver.mjs against in-process fake chat servers (plain `ws`
// on 127.0.0.1, no membrane): a correct broadcast server must pass, and servers
// that lose, duplicate or garble a message, or accept a refused client, must
// each be caught. Proves the driver can fail before we trust it to pass.
//   node driver-selftest.mjs      (exit 0 when every case behaves)
let WebSocketServer, runChat, checkRejected;
try {
  ({ WebSocketServer } = await import('ws'));
  ({ runChat, checkRejected } = await import('./chat-driver.mjs'));
} catch (e) {
  console.error(`driver-selftest: cannot load the e2e Node dependencies (${e.message}): run  bash tests/e2e/setup.sh`);
  process.exit(1);
}

function startServer({ rejectBad = true, mutate = null, binary = false } = {}) {
  return new Promise((resolve) => {
    let seen = 0;
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      verifyClient: (info, cb) => {
        const q = new URL(info.req.url, 'ws://x').searchParams;
        if (rejectBad && q.get('token') === 'bad') cb(false, 403, 'Forbidden');
        else cb(true);
      },
    });
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const text = data.toString();
        const n = seen++;
        for (const peer of wss.clients) {
          const out = mutate ? mutate(text, n, peer) : [text];
          for (const o of out) peer.send(o, { binary });
        }
      });
    });
    wss.on('listening', () => resolve({ wss, url: `ws://127.0.0.1:${wss.address().port}` }));
  });
}

const cases = [
  { name: 'correct broadcast', server: {}, expectChat: true, expectReject: true },
  { name: 'drops one message', server: { mutate: (t, n) => (n === 7 ? [] : [t]) }, expectChat: false },
  { name: 'duplicates one message', server: { mutate: (t, n) => (n === 3 ? [t, t] : [t]) }, expectChat: false },
  { name: 'sends a foreign message', server: { mutate: (t, n) => (n === 5 ? [t, 'hello'] : [t]) }, expectChat: false },
  { name: 'binary frames', server: { binary: true }, expectChat: false },
  { name: 'accepts token=bad', server: { rejectBad: false }, expectChat: true, expectReject: false },
];

let bad = 0;
for (const c of cases) {
  const { wss, url } = await startServer(c.server);
  const chat = await runChat({ url, clients: 5, messages: 4, timeoutMs: 3000, settleMs: 100 });
  let line = `chat ${chat.ok ? 'passed' : 'failed'}`;
  let good = chat.ok === c.expectChat;
  if (c.expectReject !== undefined) {
    const r = await checkRejected({ url, timeoutMs: 2000 });
    good &&= r.ok === c.expectReject;
    line += `; rejected-check ${r.ok ? 'passed' : 'failed'} (${r.detail})`;
  }
  if (!chat.ok) line += `; first failure: ${chat.failures[0]}`;
  console.log(`${good ? 'ok  ' : 'BAD '} ${c.name}: ${line}`);
  if (!good) bad++;
  for (const ws of wss.clients) ws.terminate();
  await new Promise((r) => wss.close(r));
}
console.log(bad ? `driver self-test: ${bad} case(s) misbehaved` : 'driver self-test: all cases behaved');
process.exit(bad ? 1 : 0);
