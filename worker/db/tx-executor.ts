/**
 * The executor inside a transaction held across calls (it runs in the
 * TxSession Durable Object, on the transaction's own connection). A read runs
 * in a savepoint set READ ONLY and is rolled back to it, so pg_query_read
 * cannot change a read-write transaction; a write runs as it is. An error
 * leaves the transaction aborted, as PostgreSQL does.
 */
import type { Config } from "../config";
import { localSettings, toObjects, type SqlExecutor } from "./executor";
import type { DbSession, RowSet, RunLimits, StatementWrap } from "./session";
import { ToolError } from "../tools/errors";
import { RELEASE_SESSION_LOCKS, setLocalName, setLocalRole } from "./transaction";
import { actingAs } from "./permission";

const READ_SAVEPOINT = "pg_mcp_read";

/**
 * `runningName`: the session's name with the tools/call's (db/tags.ts), set while each
 * statement runs: SET LOCAL after the read's savepoint (undone with it), and
 * for a write SET LOCAL before and RESET after. After a failed write the name
 * stays until the rollback, but an aborted transaction runs no statement, and
 * a cancel signals only an active one (db/cancel.ts).
 */
export function inTransactionExecutor(config: Config, session: DbSession, runningName?: string): SqlExecutor {
  const limitsOf = (l?: Partial<RunLimits>): RunLimits => ({
    maxRows: Math.min(l?.maxRows ?? config.maxRows, config.maxRows),
    maxBytes: Math.min(l?.maxBytes ?? config.maxResultBytes, config.maxResultBytes),
    offset: l?.offset,
  });
  // After an error PostgreSQL has aborted the transaction; nothing to clean up on our side.
  const named = runningName ? [setLocalName(runningName)] : [];
  const plain: StatementWrap = runningName ? { before: named, after: ["RESET application_name"], onError: null } : { onError: null };
  const exec: SqlExecutor = {
    inTransaction: true,
    async read(sql, params = [], limits, opts) {
      const role = config.readRole && !opts?.asServer ? config.readRole : undefined;
      return actingAs(config, role, sql, () =>
        session.run(sql, params, limitsOf(limits), {
          // SET LOCAL inside a savepoint ends with ROLLBACK TO it: the role and read-only flag last for this read only.
          before: [`SAVEPOINT ${READ_SAVEPOINT}`, ...named, "SET LOCAL transaction_read_only = on", ...(role ? [setLocalRole(role)] : []), ...localSettings(opts?.settings)],
          after: [`ROLLBACK TO SAVEPOINT ${READ_SAVEPOINT}`, `RELEASE SAVEPOINT ${READ_SAVEPOINT}`, RELEASE_SESSION_LOCKS],
          onError: null,
        }),
      );
    },
    async write(sql, params = [], opts = {}) {
      if (opts.rollback) {
        // EXPLAIN ANALYZE of a write inside the transaction: undo just that statement.
        return actingAs(config, undefined, sql, () => session.run(sql, params, limitsOf(opts.limits), { before: ["SAVEPOINT pg_mcp_undo", ...named], after: ["ROLLBACK TO SAVEPOINT pg_mcp_undo", "RELEASE SAVEPOINT pg_mcp_undo"], onError: null }));
      }
      return actingAs(config, undefined, sql, () => session.run(sql, params, limitsOf(opts.limits), plain));
    },
    async standalone(sql) {
      throw new ToolError("not_in_transaction", `this statement cannot run inside a transaction block: ${sql.slice(0, 60)}`, "run it without tx, after committing or rolling back");
    },
    async rows<T>(sql: string, params: unknown[] = []) {
      return toObjects<T>(await exec.read(sql, params, undefined, { asServer: true }));
    },
    async script(statements, opts) {
      const results: RowSet[] = [];
      for (let index = 0; index < statements.length; index++) {
        try {
          results.push(opts.readOnly ? await exec.read(statements[index]!, [], opts.limits) : await exec.write(statements[index]!, [], { limits: opts.limits }));
        } catch (error) {
          return { results, failure: { index, error } };
        }
      }
      return { results };
    },
  };
  return exec;
}
