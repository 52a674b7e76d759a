/**
 * DNS-rebinding protection: the Host names /mcp answers to. With
 * ALLOWED_HOSTS: those and loopback. Without: exactly loopback, *.workers.dev
 * and the host of PUBLIC_URL. A page on another name that resolves to the
 * server (or to a developer's loopback) is refused before anything else.
 */
import type { Config } from "../config";

export const LOOPBACK_HOSTS: readonly string[] = ["localhost", "127.0.0.1", "[::1]", "::1"];

/** Whether `hostname` (from the request's Host) is one this deployment serves. */
export function hostAllowed(hostname: string, config: Config): boolean {
  const host = hostname.toLowerCase();
  if (LOOPBACK_HOSTS.includes(host)) return true;
  if (config.allowedHosts) return config.allowedHosts.some((h) => h.toLowerCase() === host);
  if (host.endsWith(".workers.dev")) return true;
  return publicHost(config) === host;
}

function publicHost(config: Config): string | undefined {
  const url = config.auth.oauth?.publicUrl ?? config.publicUrl;
  if (!url) return undefined;
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

export function misdirected(hostname: string): Response {
  return Response.json(
    {
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, message: `host not allowed: this server does not answer to ${hostname} (it serves loopback, *.workers.dev and PUBLIC_URL's host, or the names in ALLOWED_HOSTS)` },
    },
    { status: 403 },
  );
}
