// The peer for bench/intake: what a Probot app's webhook intake does, as
// plain node:http in front of @octokit/webhooks' createNodeMiddleware. It
// verifies X-Hub-Signature-256, parses the payload and runs a no-op
// handler; nothing is persisted, so its answer promises less than handoff's.
//
// node server.js PORT, with the webhook secret in $WEBHOOK_SECRET.
import { createServer } from "node:http";
import { Webhooks, createNodeMiddleware } from "@octokit/webhooks";

const port = Number(process.argv[2]);
const secret = process.env.WEBHOOK_SECRET;
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !secret) {
  console.error("usage: WEBHOOK_SECRET=... node server.js PORT");
  process.exit(2);
}

const webhooks = new Webhooks({ secret });
webhooks.on("issues.labeled", () => {});

// The middleware logs every delivery at debug and every failure at error;
// keep failures visible, drop the rest so logging is not what is measured.
const log = { debug() {}, info() {}, warn: console.warn, error: console.error };
const middleware = createNodeMiddleware(webhooks, { path: "/hooks/github", log });

const server = createServer(async (req, res) => {
  if (await middleware(req, res)) return;
  res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
});
server.listen(port, "127.0.0.1", () => {
  console.log(`octokit peer listening on 127.0.0.1:${port}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
