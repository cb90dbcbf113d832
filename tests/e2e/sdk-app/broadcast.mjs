// The seed's broadcast chat (websocket-on.txt, "Manage Websocket connections"),
// written against the real Node SDK, @nitric/sdk 1.2.2. It is the reference the
// C++ host is compared with: the SDK reads SERVICE_ADDRESS itself (default
// 127.0.0.1:50051), declares socket 'public' and KV store 'connections', then
// opens one HandleEvents stream per on().
//
// Beyond the seed: a connect with query param token=bad is rejected (the SDK
// answers reject=true when ctx.res.success is false or when the handler throws).
//
// API facts read from node_modules/@nitric/sdk/lib/index.js (1.2.2):
//   websocket(name).on('connect' | 'disconnect' | 'message', handler)
//   kv(name).allow('get', 'set', 'delete') -> StoreRef {get, set, delete, keys}
//   StoreRef.keys(prefix = '') -> async iterable of key strings (ScanKeys)
//   ctx.req.connectionId, ctx.req.query (name -> string[], URL-decoded),
//   ctx.req.text() (message body as UTF-8), ctx.res.success (false = reject)
//   socket.send(connectionId, string | Uint8Array)
import { websocket, kv } from '@nitric/sdk';

const socket = websocket('public');
const connections = kv('connections').allow('get', 'set', 'delete');

// Register a new connection on connect (and refuse token=bad).
socket.on('connect', async (ctx) => {
  const token = ctx.req.query.token ?? [];
  if (token[0] === 'bad') {
    ctx.res.success = false;
    return ctx;
  }
  await connections.set(ctx.req.connectionId, {
    connectionId: ctx.req.connectionId,
  });
  return ctx;
});

// Remove a registered connection on disconnect.
socket.on('disconnect', async (ctx) => {
  await connections.delete(ctx.req.connectionId);
  return ctx;
});

// Broadcast the message to all the registered websocket connections.
socket.on('message', async (ctx) => {
  const message = ctx.req.text();
  for await (const connectionId of connections.keys()) {
    await socket.send(connectionId, message);
  }
  return ctx;
});
