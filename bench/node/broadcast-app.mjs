// Broadcast benchmark: the seed's broadcast chat (socket `public`, KV store
// `connections`) on the Node SDK, line by line as in the seed.
import { websocket, kv } from '@nitric/sdk';

const socket = websocket('public');
const connections = kv('connections').allow('get', 'set', 'delete');

// Register a new connection on connect.
socket.on('connect', async (ctx) => {
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
