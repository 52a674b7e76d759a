/**
 * A WebSocket-to-TCP proxy, standing in for Neon's edge proxy so the Neon
 * serverless driver can be tested against a local PostgreSQL. It only
 * forwards to loopback addresses.
 */
import { WebSocketServer } from "ws";
import { connect } from "node:net";
import { freePort } from "./ports";

export interface RunningProxy {
  /** Value for the worker's NEON_WS_PROXY var. */
  wsProxy: string;
  stop(): Promise<void>;
}

export async function startNeonProxy(): Promise<RunningProxy> {
  const port = await freePort();
  const wss = new WebSocketServer({ host: "127.0.0.1", port });
  wss.on("connection", (ws, req) => {
    const address = new URL(req.url ?? "/", "http://x").searchParams.get("address") ?? "";
    const m = /^(127\.0\.0\.1|localhost):(\d+)$/.exec(address);
    if (!m) {
      ws.close(1008, "only loopback targets");
      return;
    }
    const socket = connect(Number(m[2]), "127.0.0.1");
    const pending: Buffer[] = [];
    let open = false;
    socket.on("connect", () => {
      open = true;
      for (const b of pending) socket.write(b);
      pending.length = 0;
    });
    socket.on("data", (d) => ws.readyState === ws.OPEN && ws.send(d));
    socket.on("close", () => ws.close());
    socket.on("error", () => ws.close());
    ws.on("message", (data) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      if (open) socket.write(buf);
      else pending.push(buf);
    });
    ws.on("close", () => socket.destroy());
    ws.on("error", () => socket.destroy());
  });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  return {
    wsProxy: `127.0.0.1:${port}/v1`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
