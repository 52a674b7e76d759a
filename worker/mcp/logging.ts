/**
 * PostgreSQL's notices during a tool call (RAISE NOTICE, VACUUM VERBOSE,
 * warnings) as MCP log messages (`notifications/message`, logger "postgres"),
 * at the level the client asked for; summarised in the tool result instead
 * when the client does not take logs.
 *
 * Which level, per request, since the server is stateless:
 * - 2026-07-28: the request's `_meta["io.modelcontextprotocol/logLevel"]`.
 *   Without it the client takes no logs.
 * - 2025 era: the same `_meta` key when the request carries it. Otherwise
 *   every notice is sent: `logging/setLevel` is accepted, but it arrives on
 *   its own HTTP request, served by its own server instance, so the level it
 *   sets applies to nothing after it (there is no session to keep it in).
 * - Either era, when the client asked for one JSON answer (Accept without
 *   text/event-stream), notifications cannot reach it: summary.
 * Notices below the requested level are the client's choice and are dropped.
 */
import { LOG_LEVEL_META_KEY, type LoggingLevel, type ServerContext } from "@modelcontextprotocol/server";
import type { DbNotice } from "../db/session";
import type { RequestContext } from "../context";

const LEVELS: readonly LoggingLevel[] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/** Notices shown in a tool result at most, and characters per notice. */
const SUMMARY_MAX_NOTICES = 20;
const SUMMARY_MAX_CHARS = 500;

/** PostgreSQL's severities as MCP log levels. */
export function levelOf(severity: string): LoggingLevel {
  if (severity.startsWith("DEBUG")) return "debug";
  switch (severity) {
    case "LOG":
    case "INFO":
      return "info";
    case "WARNING":
      return "warning";
    default:
      return "notice";
  }
}

function isLevel(v: unknown): v is LoggingLevel {
  return typeof v === "string" && (LEVELS as readonly string[]).includes(v);
}

/** The notice as one readable block, the way psql prints it. */
export function noticeText(n: DbNotice): string {
  let text = `${n.severity}: ${n.message}`;
  if (n.detail) text += `\nDETAIL: ${n.detail}`;
  if (n.hint) text += `\nHINT: ${n.hint}`;
  if (n.where) text += `\nCONTEXT: ${n.where}`;
  return text;
}

export interface NoticeRelay {
  /** Pass as the request context's onNotice. */
  onNotice(notice: DbNotice): void;
  /** Waits for the log messages sent so far; returns the summary for the result, if the client did not take them. */
  finish(): Promise<string | undefined>;
}

/** How this request's notices reach the client. */
export function noticeRelay(rc: RequestContext, ctx: ServerContext, params: { _meta?: Record<string, unknown> } | undefined): NoticeRelay {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const requested = envelope?.[LOG_LEVEL_META_KEY] ?? ctx.mcpReq._meta?.[LOG_LEVEL_META_KEY] ?? params?._meta?.[LOG_LEVEL_META_KEY];
  // A level the request names; otherwise a 2025 client gets everything, a 2026 one nothing.
  const threshold: LoggingLevel | undefined = isLevel(requested) ? requested : envelope !== undefined ? undefined : "debug";
  const why = rc.jsonOnly ? "this request asked for one JSON answer, which cannot carry them" : threshold === undefined ? "this request named no log level" : undefined;
  const sent: Promise<unknown>[] = [];
  const held: DbNotice[] = [];
  return {
    onNotice(notice) {
      if (why !== undefined || threshold === undefined) {
        held.push(notice);
        return;
      }
      const level = levelOf(notice.severity);
      if (LEVELS.indexOf(level) < LEVELS.indexOf(threshold)) return;
      sent.push(ctx.mcpReq.notify({ method: "notifications/message", params: { level, logger: "postgres", data: noticeText(notice) } }).catch(() => {}));
    },
    async finish() {
      await Promise.all(sent);
      return held.length ? summary(held, why ?? "") : undefined;
    },
  };
}

function summary(notices: DbNotice[], why: string): string {
  const shown = notices.slice(0, SUMMARY_MAX_NOTICES).map((n) => {
    const t = noticeText(n);
    return t.length > SUMMARY_MAX_CHARS ? `${t.slice(0, SUMMARY_MAX_CHARS)}…` : t;
  });
  const more = notices.length > SUMMARY_MAX_NOTICES ? `\n… and ${notices.length - SUMMARY_MAX_NOTICES} more` : "";
  return `PostgreSQL sent ${notices.length} message${notices.length === 1 ? "" : "s"} (not sent as log messages: ${why}):\n${shown.join("\n")}${more}`;
}
