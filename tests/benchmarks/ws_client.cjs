// WebSocket load client for ws_bench.py, on Node's `ws` package (an independent client:
// no Python, no code shared with any server under test). Prints one JSON line.
//
//   node ws_client.cjs echo URL CONNECTIONS ROUND_TRIPS SIZE
//     every connection sends a SIZE-byte text message and waits for its echo,
//     ROUND_TRIPS times in a row; all connections at once.
//   node ws_client.cjs idle URL CONNECTIONS
//     opens CONNECTIONS sockets, prints {"open": N}, holds them until a line on stdin.
"use strict";

const path = require("path");
const WebSocket = require(path.join(process.env.WS_MODULES || ".", "ws"));

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

async function echo(url, connections, roundTrips, size) {
  const message = "x".repeat(size);
  const sockets = [];
  for (let i = 0; i < connections; i++) sockets.push(await open(url));
  const started = process.hrtime.bigint();
  const runs = sockets.map(
    (ws) =>
      new Promise((resolve, reject) => {
        let left = roundTrips;
        ws.on("message", (data) => {
          if (data.length !== size) return reject(new Error(`echo of ${data.length} bytes`));
          left -= 1;
          if (left === 0) return resolve();
          ws.send(message);
        });
        ws.once("close", () => (left ? reject(new Error("closed early")) : resolve()));
        ws.send(message);
      }),
  );
  await Promise.all(runs);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const count = connections * roundTrips;
  for (const ws of sockets) ws.close();
  return { count, seconds, rate: count / seconds };
}

async function idle(url, connections) {
  const sockets = [];
  for (let start = 0; start < connections; start += 200) {
    const batch = [];
    for (let i = start; i < Math.min(connections, start + 200); i++) batch.push(open(url));
    sockets.push(...(await Promise.all(batch)));
  }
  process.stdout.write(JSON.stringify({ open: sockets.length }) + "\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  for (const ws of sockets) ws.terminate();
  return { closed: sockets.length };
}

async function main() {
  const [mode, url, ...rest] = process.argv.slice(2);
  const numbers = rest.map(Number);
  const result = mode === "echo" ? await echo(url, ...numbers) : await idle(url, numbers[0]);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
