/** Raw HTTP to the Worker, for what the MCP client does not let us shape (Host, Origin, bad bodies). */
import { request as httpRequest } from "node:http";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The JSON-RPC message in the body (plain JSON or the first SSE data line), if any. */
  json?: any;
}

export function parseBody(body: string): any {
  const t = body.trim();
  if (!t) return undefined;
  // SSE, possibly after keep-alive comments (": keepalive") sent while a slow call runs.
  if (t.startsWith("event:") || t.startsWith("data:") || t.startsWith(":")) {
    const line = t.split("\n").find((l) => l.startsWith("data:"));
    return line ? JSON.parse(line.slice(5)) : undefined;
  }
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

/** POST (or another method) with full control of headers; bounded by a timeout. */
export function raw(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time (agent: false): reusing a kept-alive socket the Worker already closed fails as "socket hang up".
    const req = httpRequest(url, { method: opts.method ?? "POST", headers: opts.headers, timeout: opts.timeoutMs ?? 15_000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: parseBody(body) });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 15_000} ms`)));
    req.on("error", reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25" };

/** A tools/call request body. */
export function toolCall(name: string, args: unknown, id: number | string = 1): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });
}
