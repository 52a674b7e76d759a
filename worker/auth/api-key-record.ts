/** The scopes and the stored shape of an API key (no Worker types: the keys CLI uses it too). */
import { z } from "zod";

export const SCOPES = ["read", "write", "admin"] as const;

/** One API key as stored (in the API_KEYS secret): never the key itself. */
export const ApiKeyRecordSchema = z.object({
  name: z.string().min(1).max(100),
  /** hex SHA-256 of the key */
  hash: z.string().regex(/^[0-9a-f]{64}$/, "hash must be 64 hex characters (SHA-256)"),
  scopes: z.array(z.enum(SCOPES)).min(1),
  /**
   * The database role this key's calls act as: its connections log in as this
   * role (README, Per-caller identity). Absent: the server's roles, as before.
   */
  role: z.string().min(1).max(63).optional(),
  /** Exposed to row-level security policies as `current_setting('pgmcp.claims', true)::jsonb`; only with `role`. */
  claims: z.record(z.string(), z.unknown()).optional(),
}).refine((r) => r.claims === undefined || r.role !== undefined, { message: "claims need a role: they are exposed to the role's row-level security policies", path: ["claims"] });
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;

/**
 * The identity a key acts as (transaction ownership, rate limits, audit): derived
 * from its hash, so it is unique whatever the key is called. The name is for people.
 */
export function keyPrincipalId(record: Pick<ApiKeyRecord, "hash">): string {
  return `key:${record.hash.slice(0, 16)}`;
}

/** Why a set of keys cannot be served (two records with one name or one hash), or undefined. */
export function duplicateKeyProblem(records: readonly ApiKeyRecord[]): string | undefined {
  const names = new Set<string>();
  const ids = new Set<string>();
  for (const r of records) {
    if (names.has(r.name)) return `API_KEYS has two keys named "${r.name}": names must be unique (revoke one with npm run keys -- revoke --name ${r.name}, or rename it)`;
    if (ids.has(keyPrincipalId(r))) return `API_KEYS has the same key twice (hash ${r.hash.slice(0, 16)}..., the second named "${r.name}"): one key, one record`;
    names.add(r.name);
    ids.add(keyPrincipalId(r));
  }
  return undefined;
}

/**
 * Parses an API_KEYS value (JSON array of records); empty means no keys. A
 * tagged result, so the Worker (ConfigError) and the keys CLI (a usage line)
 * each say it in their own words.
 */
export function parseApiKeyRecords(raw: string | undefined): { ok: true; records: ApiKeyRecord[] } | { ok: false; reason: "not_json" } | { ok: false; reason: "invalid"; detail: string } {
  if (!raw || raw.trim() === "") return { ok: true, records: [] };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: "not_json" };
  }
  const parsed = z.array(ApiKeyRecordSchema).safeParse(json);
  return parsed.success ? { ok: true, records: parsed.data } : { ok: false, reason: "invalid", detail: z.prettifyError(parsed.error) };
}
