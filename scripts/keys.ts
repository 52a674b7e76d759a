/**
 * `npm run keys -- create --name <name> --scopes read[,write,admin] [--keys '<current API_KEYS json>']`
 * prints a new API key (once: only its hash is stored) and the API_KEYS value
 * to store with `wrangler secret put API_KEYS`.
 * `npm run keys -- revoke --name <name> --keys '<json>'` prints API_KEYS without it.
 *
 * Rotation: create a new key, deploy the new API_KEYS, move clients over,
 * then revoke the old one.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { ApiKeyRecordSchema, SCOPES, duplicateKeyProblem, keyPrincipalId, type ApiKeyRecord } from "../worker/auth/api-key-record";
import { generateApiKey, sha256Hex } from "../worker/auth/api-keys";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: "string" }, scopes: { type: "string", default: "read" }, keys: { type: "string", default: "[]" } },
});
const command = positionals[0];
const existing: ApiKeyRecord[] = z.array(ApiKeyRecordSchema).parse(JSON.parse(values.keys!));
// The Worker refuses to start on these; say so before they are deployed.
const duplicate = duplicateKeyProblem(existing);
if (duplicate && positionals[0] !== "revoke") throw new Error(`${duplicate}; fix --keys first`);

if (command === "create") {
  if (!values.name) throw new Error("--name is required");
  if (existing.some((k) => k.name === values.name)) throw new Error(`a key named ${values.name} exists; revoke it first or pick another name`);
  const scopes = values.scopes!.split(",").map((s) => s.trim());
  for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) throw new Error(`unknown scope ${s}; use ${SCOPES.join(", ")}`);
  const key = generateApiKey();
  const record: ApiKeyRecord = { name: values.name, hash: await sha256Hex(key), scopes: scopes as ApiKeyRecord["scopes"] };
  console.log(`Identity: ${keyPrincipalId(record)} (transactions, rate limits and the audit log use this, not the name)`);
  console.log(`API key for ${values.name} (shown once; give it to the client as "Authorization: Bearer <key>"):\n\n  ${key}\n`);
  console.log(`New API_KEYS value (store it with: npx wrangler secret put API_KEYS):\n\n${JSON.stringify([...existing, record])}\n`);
} else if (command === "revoke") {
  if (!values.name) throw new Error("--name is required");
  const kept = existing.filter((k) => k.name !== values.name);
  if (kept.length === existing.length) throw new Error(`no key named ${values.name}`);
  console.log(JSON.stringify(kept));
} else {
  console.error("usage: npm run keys -- create --name NAME --scopes read,write [--keys JSON] | revoke --name NAME --keys JSON");
  process.exit(2);
}
