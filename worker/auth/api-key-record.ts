/** The scopes and the stored shape of an API key (no Worker types: the keys CLI uses it too). */
import { z } from "zod";

export const SCOPES = ["read", "write", "admin"] as const;

/** One API key as stored (in the API_KEYS secret): never the key itself. */
export const ApiKeyRecordSchema = z.object({
  name: z.string().min(1).max(100),
  /** hex SHA-256 of the key */
  hash: z.string().regex(/^[0-9a-f]{64}$/, "hash must be 64 hex characters (SHA-256)"),
  scopes: z.array(z.enum(SCOPES)).min(1),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;
