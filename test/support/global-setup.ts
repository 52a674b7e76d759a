/**
 * Starts what the end-to-end tests talk to: a real PostgreSQL (embedded, or
 * TEST_DATABASE_URL), the demo migrations, and real Workers under wrangler
 * dev, one per deployment configuration the tests need.
 */
import type { TestProject } from "vitest/node";
import { createHash, randomBytes } from "node:crypto";
import { freePort } from "../../scripts/lib/ports";
import { startEmbeddedPostgres, type RunningPostgres } from "../../scripts/lib/postgres";
import { applyIdentityExample, applyRoles, migrate } from "../../scripts/lib/migrate";
import { buildWorker, startWorker, type RunningWorker } from "../../scripts/lib/worker";
import { startNeonProxy, type RunningProxy } from "../../scripts/lib/neon-proxy";
import { startPgliteVector } from "../../scripts/lib/pglite";

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser: what tests look from (a second connection) and set up with. */
    databaseUrl: string;
    /** The least-privilege role the Workers connect as (migrations/roles.sql). */
    serverDatabaseUrl: string;
    /** The Worker bundle the suite's Workers run, for a test that starts a Worker of its own (chaos.test.ts). */
    workerBundleDir: string;
    /** All groups, default limits. */
    mcpUrl: string;
    /** The Neon serverless driver through a local WebSocket proxy. */
    neonMcpUrl: string;
    /** Small limits and only the query group, for truncation and group tests. */
    smallMcpUrl: string;
    /** The same Worker under `wrangler dev`, as `npm run dev` runs it. */
    devMcpUrl: string;
    /** PGlite with pgvector (the embedded PostgreSQL has none), and a Worker on it. */
    vectorDatabaseUrl: string;
    vectorMcpUrl: string;
    /** AUTH_MODE=required with API keys (tokens in `apiKeys`), small rate limits, audit on. */
    authMcpUrl: string;
    apiKeys: Record<"read" | "write" | "admin" | "burstA" | "burstB" | "expensive" | "code" | "codeCap" | "pythonCap" | "shardA" | "shardB" | "shardC", string>;
    /** OAuth enabled: PUBLIC_URL is this Worker's origin; the consent password is `oauthPassword`. */
    oauthMcpUrl: string;
    oauthPassword: string;
    /** READ_ONLY=true deployment, API keys as above (the admin key is capped at read). */
    readOnlyMcpUrl: string;
    /** READ_ROLE="": the least-privilege server role reads as itself. */
    noReadRoleMcpUrl: string;
    /** Connected as the superuser, with API keys: refuses tool calls (the posture check). */
    privilegedMcpUrl: string;
    /** Open like mcpUrl, for the fuzz test alone: its random writes fill this Worker's audit log, nobody else's. */
    fuzzMcpUrl: string;
    /** Open, with AUDIT_LOG bound to a class that is not the audit log: every audit write fails. */
    auditlessMcpUrl: string;
    /** API keys, tiny expensive/code buckets, MAX_CONCURRENT_REQUESTS=3, one code run and one Python run at a time. */
    limitsMcpUrl: string;
    /** Open, with a short transaction deadline (TX_MAX_AGE_MS). */
    leaseMcpUrl: string;
    /** OAuth like oauthMcpUrl, with access tokens that live 60 s, the shortest OAUTH_ACCESS_TOKEN_TTL_S. */
    shortOAuthMcpUrl: string;
    /** API keys, no rate limits, CONFIRM_DESTRUCTIVE left to its default (on, with authentication), fallback refuse (confirm.test.ts). */
    confirmMcpUrl: string;
    /** Open, CONFIRM_DESTRUCTIVE=true, CONFIRM_FALLBACK=proceed. */
    confirmProceedMcpUrl: string;
    /** API keys, no rate limits, code mode for every scope, PUBLIC_URL set and no ALLOWED_HOSTS (scopes.test.ts). */
    scopesMcpUrl: string;
    /**
     * A PostgreSQL with the hypopg extension (HYPOPG_DATABASE_URL, a superuser; e.g. Debian's postgresql-15-hypopg),
     * and an open Worker on it; both "" when the variable is unset (advisor.test.ts then says its hypopg tests did not run).
     */
    hypopgDatabaseUrl: string;
    hypopgMcpUrl: string;
    /**
     * Per-caller identity (identity.test.ts): keys `tenantA` and `tenantB` act as the database roles
     * pgmcp_tenant_a and pgmcp_tenant_b (migrations/identity.example.sql, each through its own Hyperdrive
     * binding), `plain` as the server's roles, `mislogged` names a role whose binding logs in as pgmcp.
     */
    identityMcpUrl: string;
    identityKeys: Record<"tenantA" | "tenantB" | "plain" | "mislogged", string>;
  }
}

const OAUTH_PASSWORD = "correct horse battery staple";

/** Test API keys: the tokens for the tests, and the API_KEYS secret (hashes only) for the Workers. */
/** The identity Worker's keys: two caller roles with claims, one key without a role, one whose role's binding is wrong. */
function makeIdentityKeys() {
  const specs = {
    tenantA: { scopes: ["read", "write", "admin"], role: "pgmcp_tenant_a", claims: { tenant: "a", plan: "gold" } },
    tenantB: { scopes: ["read", "write"], role: "pgmcp_tenant_b", claims: { tenant: "b" } },
    plain: { scopes: ["read", "write", "admin"] },
    mislogged: { scopes: ["read"], role: "pgmcp_tenant_c" },
  } as const;
  const tokens = {} as Record<keyof typeof specs, string>;
  const records = [];
  for (const [name, spec] of Object.entries(specs) as [keyof typeof specs, (typeof specs)[keyof typeof specs]][]) {
    tokens[name] = `pgm_test_${name}_${randomBytes(16).toString("hex")}`;
    records.push({ name, hash: createHash("sha256").update(tokens[name]).digest("hex"), ...spec });
  }
  return { tokens, secret: JSON.stringify(records) };
}

function makeKeys() {
  const scopes = { read: ["read"], write: ["read", "write"], admin: ["admin"], burstA: ["read"], burstB: ["read"], expensive: ["admin"], code: ["admin"], codeCap: ["admin"], pythonCap: ["admin"], shardA: ["admin"], shardB: ["admin"], shardC: ["admin"] } as const;
  const tokens = {} as Record<keyof typeof scopes, string>;
  const records = [];
  for (const [name, s] of Object.entries(scopes) as [keyof typeof scopes, readonly string[]][]) {
    tokens[name] = `pgm_test_${name}_${randomBytes(16).toString("hex")}`;
    records.push({ name, hash: createHash("sha256").update(tokens[name]).digest("hex"), scopes: s });
  }
  return { tokens, secret: JSON.stringify(records) };
}

export default async function setup(project: TestProject) {
  const started: { stop(): Promise<void> }[] = [];
  const teardown = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => {});
  };
  try {
    let databaseUrl = process.env.TEST_DATABASE_URL;
    if (!databaseUrl) {
      const pg: RunningPostgres = await startEmbeddedPostgres();
      started.push(pg);
      databaseUrl = pg.url;
    }
    // As in production: the Workers connect as the server's role, and reads act as the read role (wrangler.toml's READ_ROLE).
    // Tests create fixtures as the administrator: grant them to the server as an operator would.
    const serverUrl = await applyRoles(databaseUrl, { grantFutureTablesOf: new URL(databaseUrl).username });
    await migrate(serverUrl);
    const tenantUrls = await applyIdentityExample(databaseUrl);
    const bundleDir = buildWorker();
    const keys = makeKeys();
    const identityKeys = makeIdentityKeys();
    const oauthPort = await freePort();
    const proxy: RunningProxy = await startNeonProxy();
    started.push(proxy);
    // Local, unauthenticated Workers (auth is tested on its own Workers in auth.test.ts); no rate limits so the suite is not throttled.
    const open = { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", LOCK_TIMEOUT_MS: "3000", CODE_MAX_DB_CALLS: "200", PYTHON: "false" };
    const workers = await Promise.allSettled([
      startWorker({ databaseUrl: serverUrl, vars: open }),
      startWorker({ databaseUrl: serverUrl, vars: { ...open, DB_DRIVER: "neon", DATABASE_URL: serverUrl, NEON_WS_PROXY: proxy.wsProxy } }),
      startWorker({ databaseUrl: serverUrl, vars: { ...open, TOOL_GROUPS: "query,tx", MAX_ROWS: "5", MAX_RESULT_BYTES: "2000", STATEMENT_TIMEOUT_MS: "500", MAX_OPEN_TRANSACTIONS: "2" } }),
      startWorker({ databaseUrl: serverUrl, mode: "wrangler", vars: open }),
      startWorker({ databaseUrl: serverUrl, vars: { API_KEYS: keys.secret, RATE_LIMIT_PER_MINUTE: "30", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "30", RATE_LIMIT_CODE_PER_MINUTE: "3", MAX_REQUEST_BYTES: "20000", ALLOWED_HOSTS: "mcp.example.com" } }),
      startWorker({ databaseUrl: serverUrl, port: oauthPort, vars: { API_KEYS: keys.secret, PUBLIC_URL: `http://127.0.0.1:${oauthPort}`, OAUTH_ADMIN_PASSWORD: OAUTH_PASSWORD, RATE_LIMIT_PER_MINUTE: "0" } }),
      startWorker({ databaseUrl: serverUrl, vars: { API_KEYS: keys.secret, READ_ONLY: "true", RATE_LIMIT_PER_MINUTE: "0", CODE_MODE_SCOPE: "read" } }),
      // The least-privilege server role with no read role: reads act as the server's role.
      startWorker({ databaseUrl: serverUrl, vars: { ...open, READ_ROLE: "" } }),
      // A superuser behind authentication: the posture check must refuse every tool call.
      startWorker({ databaseUrl, vars: { API_KEYS: keys.secret, RATE_LIMIT_PER_MINUTE: "0" } }),
      // Escalation attempts by scope: every tool and program path open to every key, the default Host allowlist.
      startWorker({ databaseUrl: serverUrl, vars: { API_KEYS: keys.secret, RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", CODE_MODE_SCOPE: "read", PYTHON: "false", PUBLIC_URL: "https://mcp.example.org", TX_IDLE_TIMEOUT_MS: "60000" } }),
    ]);
    for (const w of workers) if (w.status === "fulfilled") started.push(w.value);
    const failed = workers.find((w) => w.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const pglite = await startPgliteVector();
    started.push(pglite);
    const vectorWorker = await startWorker({ databaseUrl: pglite.url, vars: open });
    started.push(vectorWorker);
    project.provide("vectorDatabaseUrl", pglite.url);
    project.provide("vectorMcpUrl", vectorWorker.mcpUrl);
    const [main, neon, small, dev, auth, oauth, readOnly, noReadRole, privileged, scopes] = workers.map((w) => (w as PromiseFulfilledResult<RunningWorker>).value);
    project.provide("databaseUrl", databaseUrl);
    project.provide("workerBundleDir", bundleDir);
    project.provide("serverDatabaseUrl", serverUrl);
    project.provide("noReadRoleMcpUrl", noReadRole!.mcpUrl);
    project.provide("privilegedMcpUrl", privileged!.mcpUrl);
    project.provide("scopesMcpUrl", scopes!.mcpUrl);
    project.provide("mcpUrl", main!.mcpUrl);
    project.provide("neonMcpUrl", neon!.mcpUrl);
    project.provide("smallMcpUrl", small!.mcpUrl);
    project.provide("devMcpUrl", dev!.mcpUrl);
    project.provide("authMcpUrl", auth!.mcpUrl);
    project.provide("apiKeys", keys.tokens);
    project.provide("oauthMcpUrl", oauth!.mcpUrl);
    project.provide("oauthPassword", OAUTH_PASSWORD);
    project.provide("readOnlyMcpUrl", readOnly!.mcpUrl);

    const shortOAuthPort = await freePort();
    const identityPort = await freePort();
    const more = await Promise.allSettled([
      startWorker({ databaseUrl: serverUrl, vars: open }),
      startWorker({ databaseUrl: serverUrl, vars: open, durableObjectClasses: { AUDIT_LOG: "Limits" } }),
      startWorker({
        databaseUrl: serverUrl,
        vars: {
          API_KEYS: keys.secret,
          RATE_LIMIT_PER_MINUTE: "1000",
          RATE_LIMIT_EXPENSIVE_PER_MINUTE: "3",
          RATE_LIMIT_CODE_PER_MINUTE: "3",
          MAX_CONCURRENT_REQUESTS: "3",
          MAX_CONCURRENT_CODE_RUNS: "1",
          MAX_CONCURRENT_PYTHON_RUNS: "1",
          MAX_CODE_BYTES: "1000",
        },
      }),
      startWorker({ databaseUrl: serverUrl, vars: { ...open, TX_MAX_AGE_MS: "3000" } }),
      startWorker({ databaseUrl: serverUrl, port: shortOAuthPort, vars: { API_KEYS: keys.secret, PUBLIC_URL: `http://127.0.0.1:${shortOAuthPort}`, OAUTH_ADMIN_PASSWORD: OAUTH_PASSWORD, OAUTH_ACCESS_TOKEN_TTL_S: "60", RATE_LIMIT_PER_MINUTE: "0" } }),
      startWorker({ databaseUrl: serverUrl, vars: { API_KEYS: keys.secret, RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", PYTHON: "false" } }),
      startWorker({ databaseUrl: serverUrl, vars: { ...open, CONFIRM_DESTRUCTIVE: "true", CONFIRM_FALLBACK: "proceed" } }),
      // Per-caller identity: each caller role logs in through its own binding; pgmcp_tenant_c's binding is miswired to the server's login.
      startWorker({
        databaseUrl: serverUrl,
        port: identityPort,
        hyperdrives: { HYPERDRIVE_PGMCP_TENANT_A: tenantUrls.pgmcp_tenant_a, HYPERDRIVE_PGMCP_TENANT_B: tenantUrls.pgmcp_tenant_b, HYPERDRIVE_PGMCP_TENANT_C: serverUrl },
        vars: { API_KEYS: identityKeys.secret, PUBLIC_URL: `http://127.0.0.1:${identityPort}`, OAUTH_ADMIN_PASSWORD: OAUTH_PASSWORD, DATABASE_ROLES: "pgmcp_tenant_a,pgmcp_tenant_b,pgmcp_tenant_c", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", CODE_MODE_SCOPE: "write", TX_IDLE_TIMEOUT_MS: "60000", CONFIRM_DESTRUCTIVE: "false" },
      }),
    ]);
    for (const w of more) if (w.status === "fulfilled") started.push(w.value);
    const failedMore = more.find((w) => w.status === "rejected");
    if (failedMore) throw (failedMore as PromiseRejectedResult).reason;
    const [fuzz, auditless, limits, lease, shortOAuth, confirm, confirmProceed, identity] = more.map((w) => (w as PromiseFulfilledResult<RunningWorker>).value);
    project.provide("fuzzMcpUrl", fuzz!.mcpUrl);
    project.provide("auditlessMcpUrl", auditless!.mcpUrl);
    project.provide("limitsMcpUrl", limits!.mcpUrl);
    project.provide("leaseMcpUrl", lease!.mcpUrl);
    project.provide("shortOAuthMcpUrl", shortOAuth!.mcpUrl);
    project.provide("confirmMcpUrl", confirm!.mcpUrl);
    project.provide("confirmProceedMcpUrl", confirmProceed!.mcpUrl);
    const hypopg = await startHypopgWorker(open);
    if (hypopg) started.push(hypopg.worker);
    project.provide("hypopgDatabaseUrl", hypopg?.databaseUrl ?? "");
    project.provide("hypopgMcpUrl", hypopg?.worker.mcpUrl ?? "");
    project.provide("identityMcpUrl", identity!.mcpUrl);
    project.provide("identityKeys", identityKeys.tokens);
  } catch (e) {
    await teardown();
    throw e;
  }
  return teardown;
}

/** The optional hypopg server: the same roles as the main database, the extension created, an open Worker. */
export async function startHypopgWorker(vars: Record<string, string>): Promise<{ databaseUrl: string; worker: RunningWorker } | undefined> {
  const databaseUrl = process.env.HYPOPG_DATABASE_URL;
  if (!databaseUrl) return undefined;
  const serverUrl = await applyRoles(databaseUrl, { grantFutureTablesOf: new URL(databaseUrl).username });
  const pg = await import("pg");
  const admin = new pg.default.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query("create extension if not exists hypopg");
  } finally {
    await admin.end();
  }
  return { databaseUrl, worker: await startWorker({ databaseUrl: serverUrl, vars }) };
}
