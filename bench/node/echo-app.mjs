// End-to-end benchmark: the Node SDK twin of plugins/echo (socket `echo`):
// every message goes back to the connection that sent it.
import { websocket } from '@nitric/sdk';

const socket = websocket('echo');

socket.on('connect', async (ctx) => ctx);
socket.on('disconnect', async (ctx) => ctx);
socket.on('message', async (ctx) => {
  await socket.send(ctx.req.connectionId, ctx.req.text());
  return ctx;
});
