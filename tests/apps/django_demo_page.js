// Runs the demo room page's inline chat client in Node against a real server.
//
// usage: node [--experimental-websocket] django_demo_page.js http://127.0.0.1:PORT/chat/ROOM/
// Prints one JSON line: {"log": [...lines the page showed...]}; exits 1 on timeout.
// The DOM is a stub holding exactly what room.html's script touches; WebSocket and fetch
// are Node's own (undici), so the socket and the POST really go over the network.
"use strict";

const pageUrl = new URL(process.argv[2]);
// What a browser derives from the page's address: undici sends it as the WebSocket
// Origin header (which the demo's AllowedHostsOriginValidator requires) and resolves the
// page's relative fetch() URLs against it.
globalThis[Symbol.for("undici.globalOrigin.1")] = new URL(pageUrl.origin);

const lines = [];

function element(props = {}) {
  const listeners = {};
  return {
    ...props,
    className: "",
    children: [],
    addEventListener(type, handler) { listeners[type] = handler; },
    dispatch(type) { return listeners[type]({preventDefault() {}}); },
    appendChild(child) {
      this.children.push(child);
      if (this.id === "log") lines.push(child.textContent);
    },
  };
}

function form(id, fields) {
  const result = element({id});
  for (const name of fields) result[name] = {value: ""};
  return result;
}

async function main() {
  const html = await (await fetch(pageUrl)).text();
  const roomJson = html.match(/<script id="room-name" type="application\/json">(.*?)<\/script>/s);
  const script = html.match(/<script>([\s\S]*?)<\/script>/);
  if (!roomJson || !script) throw new Error("room page has no inline chat script");
  const elements = {
    "room-name": element({textContent: roomJson[1]}),
    log: element({id: "log"}),
    chat: form("chat", ["message", "author"]),
    broadcast: form("broadcast", ["message"]),
  };
  globalThis.location = {protocol: pageUrl.protocol, host: pageUrl.host};
  globalThis.document = {
    getElementById: (id) => elements[id],
    createElement: () => element(),
  };
  (0, eval)(script[1]);

  await until((line) => line.startsWith("connected to #"));
  elements.chat.author.value = "ann";
  elements.chat.message.value = "typed on the page";
  elements.chat.dispatch("submit");
  await until((line) => line === "ann: typed on the page");
  elements.broadcast.message.value = "posted by the page";
  await elements.broadcast.dispatch("submit");
  await until((line) => line === "http form: posted by the page");
  console.log(JSON.stringify({log: lines}));
  process.exit(0);
}

function until(predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (lines.some(predicate)) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(timer);
        reject(new Error(`page never showed the expected line; it showed ${JSON.stringify(lines)}`));
      }
    }, 10);
  });
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
