/** Every tool, in listing order. Groups are enabled per deployment (TOOL_GROUPS). */
import { queryTools } from "./query.tools";
import { auditTools } from "./audit.tools";
import { vectorTools } from "./vector.tools";
import { codeTools } from "./code.tools";
import { schemaTools } from "./schema.tools";
import { adminTools } from "./admin.tools";
import { monitorTools } from "./monitor.tools";
import { advisorTools } from "./advisor.tools";
import { txTools } from "./tx.tools";
import { codeModeTools } from "./codemode.tools";
import { pythonTools } from "./python.tools";
import type { ToolDefinition } from "./registry";

export const ALL_TOOLS: readonly ToolDefinition[] = [...queryTools, ...schemaTools, ...adminTools, ...monitorTools, ...advisorTools, ...txTools, ...auditTools, ...vectorTools, ...codeTools, ...codeModeTools, ...pythonTools] as unknown as ToolDefinition[];
