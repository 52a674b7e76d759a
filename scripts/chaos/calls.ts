/**
 * One MCP call with its own deadline, and what came back, classified: a result,
 * a proper tool error (with its code), a hang (no answer by the deadline), or
 * an improper failure (a protocol or HTTP error where a tool result was due).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// undici comes with miniflare (a dev dependency): the same fetch Node has, with a pool we can tune.
import { Agent, fetch as undiciFetch } from "undici";

export type Outcome =
  | { kind: "ok"; structured: Record<string, unknown>; text: string; ms: number }
  | { kind: "error"; code: string; text: string; ms: number }
  | { kind: "hang"; text: string; ms: number }
  | { kind: "improper"; text: string; ms: number };

export interface CallLog {
  tool: string;
  at: number;
  outcome: Outcome;
}

/**
 * Keep-alive connections are dropped after 1 s idle. workerd closes an idle
 * keep-alive connection after a few seconds without saying when (no
 * Keep-Alive header); fetch's default pool keeps them 4 s, and on a loaded
 * machine its timer runs late, so a request sent on a connection the server
 * is closing failed with "other side closed" before reaching the Worker.
 * That is the local HTTP hop, not the product: keep the pool's idle time well
 * under the server's.
 */
const agent = new Agent({ keepAliveTimeout: 1_000, keepAliveMaxTimeout: 1_000 });
const pooledFetch = ((url: string | URL, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher: agent })) as unknown as typeof fetch;

export async function connect(mcpUrl: string, token: string, deadlineMs: number): Promise<Client> {
  const client = new Client({ name: "pg-mcp-chaos", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: pooledFetch, requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport, { timeout: deadlineMs });
  return client;
}

/** "ERROR code: message" is how every tool error starts (worker/tools/errors.ts formatError). */
const ERROR_LINE = /^ERROR ([^:\s]+): /;

export async function callTool(client: Client, tool: string, args: Record<string, unknown>, deadlineMs: number): Promise<Outcome> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The SDK's own timeout, and ours a little later in case the transport itself never settles. No abort signal:
  // the SDK (1.x) never removes its listener, so a signal that fires after the call answered (AbortSignal.timeout)
  // still sends notifications/cancelled for that request id, and on a stateless server another client of the same
  // caller using the same id at that moment has its call cancelled.
  const hard = new Promise<"hang">((resolve) => (timer = setTimeout(() => resolve("hang"), deadlineMs + 2_000)));
  try {
    const r = await Promise.race([client.callTool({ name: tool, arguments: args }, undefined, { timeout: deadlineMs }), hard]);
    if (r === "hang") return { kind: "hang", text: `no answer within ${deadlineMs} ms`, ms: ms() };
    const text = ((r.content ?? []) as { text?: string }[]).map((c) => c.text ?? "").join("\n");
    if (r.isError) {
      const code = ERROR_LINE.exec(text)?.[1];
      return code ? { kind: "error", code, text, ms: ms() } : { kind: "improper", text: `tool error without a code: ${text.slice(0, 200)}`, ms: ms() };
    }
    return { kind: "ok", structured: (r.structuredContent ?? {}) as Record<string, unknown>, text, ms: ms() };
  } catch (e) {
    // fetch's own message ("fetch failed") hides the reason in its cause.
    const cause = (e as { cause?: { code?: string; message?: string } } | null)?.cause;
    const message = `${e instanceof Error ? e.message : String(e)}${cause ? ` (${cause.code ?? ""} ${cause.message ?? ""})`.replace("( ", "(") : ""}`;
    if (/timed out|timeout|aborted/i.test(message) && ms() >= deadlineMs) return { kind: "hang", text: message, ms: ms() };
    return { kind: "improper", text: message.slice(0, 300), ms: ms() };
  } finally {
    clearTimeout(timer);
  }
}
