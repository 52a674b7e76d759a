/**
 * Per-caller rate limits and the deployment's concurrency cap, decided by the
 * Limits Durable Object. Only requests that reach the database count (tool
 * calls, resource reads, prompts, completions); listing and initialisation
 * are free.
 */
import type { Config } from "../config";
import type { Principal } from "../auth/principal";
import type { AcquireResult, CostClass, LimitPolicy } from "../../durable-objects/limits";
import { ALL_TOOLS } from "../tools";

const COST = new Map<string, CostClass>(ALL_TOOLS.map((t) => [t.name, t.cost ?? "call"]));
const COUNTED = new Set(["tools/call", "resources/read", "prompts/get", "completion/complete"]);

export type Lease = (AcquireResult & { ok: true; release(): Promise<void> }) | (AcquireResult & { ok: false });

function policyOf(config: Config): LimitPolicy {
  return {
    perMinute: { call: config.rateLimits.perMinute, expensive: config.rateLimits.expensivePerMinute, code: config.rateLimits.codePerMinute },
    maxConcurrent: config.maxConcurrentRequests,
  };
}

function costOf(body: unknown): CostClass | undefined {
  const m = body as { method?: unknown; params?: { name?: unknown } } | undefined;
  if (!m || typeof m.method !== "string" || !COUNTED.has(m.method)) return undefined;
  if (m.method === "tools/call" && typeof m.params?.name === "string") return COST.get(m.params.name) ?? "call";
  return "call";
}

/** Takes a token and a concurrency slot, or says why not. Undefined when nothing is limited for this request. */
export async function acquireLimits(env: Env, config: Config, principal: Principal, body: unknown): Promise<Lease | undefined> {
  const cost = costOf(body);
  if (!cost) return undefined;
  const policy = policyOf(config);
  const limited = policy.maxConcurrent > 0 || policy.perMinute.call > 0 || policy.perMinute[cost] > 0;
  if (!limited) return undefined;
  const stub = env.LIMITS.get(env.LIMITS.idFromName("deployment"));
  const result = await stub.acquire(principal.id, cost, policy);
  if (!result.ok) return result;
  return { ...result, release: () => stub.release(result.lease) };
}

export function limitHeaders(lease: Lease): Record<string, string> {
  if (!lease.ok) return {};
  if (lease.limit <= 0) return {};
  return { "RateLimit-Limit": String(lease.limit), "RateLimit-Remaining": String(Math.max(0, lease.remaining)), "RateLimit-Reset": String(Math.ceil(lease.resetMs / 1000)) };
}

export function tooManyRequests(lease: Lease & { ok: false }): Response {
  const retryAfter = Math.max(1, Math.ceil(lease.retryAfterMs / 1000));
  const message =
    lease.reason === "rate"
      ? `rate limit exceeded: ${lease.limit} calls per minute; retry after ${retryAfter}s`
      : `server busy: ${lease.limit} requests already in flight for this deployment; retry after ${retryAfter}s`;
  return Response.json(
    { jsonrpc: "2.0", id: null, error: { code: -32000, message, data: { reason: lease.reason, limit: lease.limit, remaining: 0, retryAfterMs: lease.retryAfterMs } } },
    { status: 429, headers: { "Retry-After": String(retryAfter), "RateLimit-Limit": String(lease.limit), "RateLimit-Remaining": "0" } },
  );
}

/** Adds the rate-limit headers and releases the slot when the body has been sent (or abandoned). */
export function withLease(response: Response, lease: Lease & { ok: true }, waitUntil: (p: Promise<unknown>) => void): Response {
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(limitHeaders(lease))) headers.set(k, v);
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      waitUntil(lease.release());
    }
  };
  if (!response.body) {
    release();
    return new Response(null, { status: response.status, statusText: response.statusText, headers });
  }
  const reader = response.body.getReader();
  const body = new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        release();
        controller.error(e);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}
