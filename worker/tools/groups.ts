/** The tool groups a deployment can enable (TOOL_GROUPS). */
export const TOOL_GROUPS = ["query", "schema", "admin", "monitor", "advisor", "tx", "vector", "code", "codemode"] as const;
export type ToolGroup = (typeof TOOL_GROUPS)[number];
