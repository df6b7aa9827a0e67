// A bare websocket relay on Node's `ws`: the baseline of Kumppani's benchmark.
// Every text frame a connection sends to /room/<name> is forwarded, unchanged,
// to every connection in that room (the sender included, as Kumppani echoes an
// operation to its author too). Nothing else: no parsing, no storage.
// Usage: node relay.js <port>
"use strict";
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2] || 8765);
const rooms = new Map();
const wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false, maxPayload: 1 << 20 });

wss.on("connection", (ws, req) => {
  const name = req.url || "/";
  let room = rooms.get(name);
  if (!room) rooms.set(name, (room = new Set()));
  room.add(ws);
  ws.on("message", (data, isBinary) => {
    for (const peer of room) {
      if (peer.readyState === 1) peer.send(data, { binary: isBinary });
    }
  });
  ws.on("close", () => {
    room.delete(ws);
    if (room.size === 0) rooms.delete(name);
  });
  ws.on("error", () => {});
});
wss.on("listening", () => console.log(`relay listening on ${port}`));
