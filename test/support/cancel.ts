/**
 * Helpers for progress and cancellation tests: raw MCP POSTs whose response
 * stream is read as it arrives (and can be aborted), and the observer's view
 * of a marked statement in pg_stat_activity.
 */
import type pg from "pg";

/** _meta of a 2026-07-28 request (stateless: the protocol version, client info and capabilities on every request). */
export const META_2026 = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw-2026", version: "1" } };

export type Era = "2025" | "2026";

/** Headers and body of one JSON-RPC message in either era. */
export function mcpPost(era: Era, message: { id?: number | string; method: string; params: Record<string, unknown> }, name?: string): { headers: Record<string, string>; body: string } {
  const modern = era === "2026";
  const params = modern ? { ...message.params, _meta: { ...((message.params._meta as object) ?? {}), ...META_2026 } } : message.params;
  return {
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": modern ? "2026-07-28" : "2025-11-25",
      ...(modern ? { "mcp-method": message.method, ...(name ? { "mcp-name": name } : {}) } : {}),
    },
    body: JSON.stringify({ jsonrpc: "2.0", ...(message.id !== undefined ? { id: message.id } : {}), method: message.method, params }),
  };
}

/** A POST whose SSE messages are collected as they arrive. */
export interface Streaming {
  /** JSON-RPC messages received so far. */
  messages: any[];
  /** Aborts the HTTP request (the client goes away). */
  abort(): void;
  /** Settles when the response ends (or fails, e.g. aborted): the HTTP status, 0 if none. */
  done: Promise<number>;
}

export function streamPost(url: string, post: { headers: Record<string, string>; body: string }): Streaming {
  const controller = new AbortController();
  const messages: any[] = [];
  const done = (async () => {
    const res = await fetch(url, { method: "POST", headers: post.headers, body: post.body, signal: controller.signal });
    const type = res.headers.get("content-type") ?? "";
    if (!res.body) return res.status;
    if (!type.includes("text/event-stream")) {
      const text = await res.text();
      if (text) messages.push(JSON.parse(text));
      return res.status;
    }
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n");
        if (data) messages.push(JSON.parse(data));
      }
    }
    return res.status;
  })().catch(() => 0);
  return { messages, abort: () => controller.abort(), done };
}

/** The observer's rows for statements whose text contains `marker`. */
export async function statementsMarked(db: pg.Client, marker: string): Promise<{ pid: number; state: string; application_name: string }[]> {
  const r = await db.query("select pid, state, application_name from pg_stat_activity where query like $1 and pid <> pg_backend_pid()", [`%${marker}%`]);
  return r.rows;
}

/** Whether a statement containing `marker` is running. */
export async function running(db: pg.Client, marker: string): Promise<boolean> {
  return (await statementsMarked(db, marker)).some((r) => r.state === "active");
}

export function uniqueMarker(): string {
  return `m${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
