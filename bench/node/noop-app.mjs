// Dispatch benchmark, contender (b): the Node SDK with do-nothing handlers for
// every event of socket `public`. The SDK reads SERVICE_ADDRESS itself,
// declares the socket and opens one HandleEvents stream per on().
import { websocket } from '@nitric/sdk';

const socket = websocket('public');

socket.on('connect', async (ctx) => ctx);
socket.on('disconnect', async (ctx) => ctx);
socket.on('message', async (ctx) => ctx);
