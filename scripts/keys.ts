/**
 * `npm run keys -- create --name <name> --scopes read[,write,admin] [--role <database role> [--claims '<json object>']] [--keys '<current API_KEYS json>']`
 * prints a new API key (once: only its hash is stored) and the API_KEYS value
 * to store with `wrangler secret put API_KEYS`.
 * `npm run keys -- revoke --name <name> --keys '<json>'` prints API_KEYS without it.
 *
 * Rotation: create a new key, deploy the new API_KEYS, move clients over,
 * then revoke the old one.
 */
import { parseArgs } from "node:util";
import { SCOPES, duplicateKeyProblem, keyPrincipalId, parseApiKeyRecords, type ApiKeyRecord } from "../worker/auth/api-key-record";
import { generateApiKey, sha256Hex } from "../worker/auth/api-keys";
import { roleHyperdriveBinding } from "../worker/db/identity";

/** A mistake in the command line: said in one line, no stack trace, exit 2. */
class UsageError extends Error {}
const USAGE = "usage: npm run keys -- create --name NAME --scopes read,write [--role ROLE [--claims JSON]] [--keys JSON] | revoke --name NAME --keys JSON";

function main(): void {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { name: { type: "string" }, scopes: { type: "string", default: "read" }, role: { type: "string" }, claims: { type: "string" }, keys: { type: "string", default: "[]" } },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
  const { positionals, values } = parsed;
  const command = positionals[0];
  const existing = currentKeys(values.keys!);
  // The Worker refuses to start on these; say so before they are deployed.
  const duplicate = duplicateKeyProblem(existing);
  if (duplicate && command !== "revoke") throw new UsageError(`${duplicate}; fix --keys first`);

  if (command === "create") {
    if (!values.name) throw new UsageError("--name is required");
    if (existing.some((k) => k.name === values.name)) throw new UsageError(`a key named ${values.name} exists; revoke it first or pick another name`);
    const scopes = values.scopes!.split(",").map((s) => s.trim());
    for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) throw new UsageError(`unknown scope ${s}; use ${SCOPES.join(", ")}`);
    const identity = roleArgs(values.role, values.claims);
    return void create(values.name, scopes as ApiKeyRecord["scopes"], existing, identity);
  }
  if (command === "revoke") {
    if (!values.name) throw new UsageError("--name is required");
    const kept = existing.filter((k) => k.name !== values.name);
    if (kept.length === existing.length) throw new UsageError(`no key named ${values.name}`);
    console.log(JSON.stringify(kept));
    return;
  }
  throw new UsageError(USAGE);
}

/** --keys: the current API_KEYS JSON. Empty (the first key, `--keys "$CURRENT_API_KEYS"` with nothing set yet) means none. */
function currentKeys(raw: string): ApiKeyRecord[] {
  const parsed = parseApiKeyRecords(raw);
  if (parsed.ok) return parsed.records;
  switch (parsed.reason) {
    case "not_json":
      throw new UsageError("--keys is not JSON: pass the current API_KEYS value (a JSON array), or nothing for the first key");
    case "invalid":
      throw new UsageError(`--keys is not a valid API_KEYS value: ${parsed.detail}`);
  }
}

/** --role and --claims: the database role the key acts as (README, Per-caller identity) and the claims its policies may read. */
function roleArgs(role: string | undefined, claims: string | undefined): Pick<ApiKeyRecord, "role" | "claims"> {
  if (claims !== undefined && role === undefined) throw new UsageError("--claims needs --role: claims are exposed to that role's row-level security policies");
  if (role === undefined) return {};
  if (role.trim() === "" || new TextEncoder().encode(role).length > 63) throw new UsageError("--role must be a database role name (1 to 63 bytes)");
  if (claims === undefined) return { role };
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch {
    throw new UsageError("--claims is not JSON: pass an object, e.g. --claims '{\"tenant\":\"a\"}'");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UsageError("--claims must be a JSON object");
  return { role, claims: parsed as Record<string, unknown> };
}

async function create(name: string, scopes: ApiKeyRecord["scopes"], existing: ApiKeyRecord[], identity: Pick<ApiKeyRecord, "role" | "claims"> = {}): Promise<void> {
  const key = generateApiKey();
  const record: ApiKeyRecord = { name, hash: await sha256Hex(key), scopes, ...identity };
  console.log(`Identity: ${keyPrincipalId(record)} (transactions, rate limits and the audit log use this, not the name)`);
  console.log(`API key for ${name} (shown once; give it to the client as "Authorization: Bearer <key>"):\n\n  ${key}\n`);
  if (identity.role) console.log(`Database role: ${identity.role} (list it in DATABASE_ROLES, with its own binding ${roleHyperdriveBinding(identity.role)})`);
  console.log(`New API_KEYS value (store it with: npx wrangler secret put API_KEYS):\n\n${JSON.stringify([...existing, record])}\n`);
}

try {
  main();
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`error: ${e.message}`);
  process.exitCode = 2;
}
