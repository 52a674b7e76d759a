/**
 * Bearer API keys. Only SHA-256 hashes are stored (the API_KEYS secret); a
 * presented key is hashed and compared with every stored hash in constant
 * time, without stopping at the first match, so timing says nothing about
 * which key or how much of it matched.
 */
import type { ApiKeyRecord } from "./api-key-record";

/** Every key starts with this, so logs and scanners can recognise a leaked one. */
export const API_KEY_PREFIX = "pgm_";

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function equalConstantTime(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  if (ea.length !== eb.length) return false;
  // workerd provides crypto.subtle.timingSafeEqual; the loop is the fallback for Node (tests, CLI).
  const subtle = crypto.subtle as SubtleCrypto & { timingSafeEqual?: (x: ArrayBufferView, y: ArrayBufferView) => boolean };
  if (subtle.timingSafeEqual) return subtle.timingSafeEqual(ea, eb);
  let diff = 0;
  for (let i = 0; i < ea.length; i++) diff |= ea[i]! ^ eb[i]!;
  return diff === 0;
}

/** The stored record matching `token`, or undefined. */
export async function verifyApiKey(token: string, keys: readonly ApiKeyRecord[]): Promise<ApiKeyRecord | undefined> {
  if (!token.startsWith(API_KEY_PREFIX) || token.length > 200) return undefined;
  const hash = await sha256Hex(token);
  let found: ApiKeyRecord | undefined;
  for (const key of keys) if (equalConstantTime(hash, key.hash) && !found) found = key;
  return found;
}

/** A new random key: pgm_ + 32 random bytes, base64url. */
export function generateApiKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const b64 = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return API_KEY_PREFIX + b64;
}
