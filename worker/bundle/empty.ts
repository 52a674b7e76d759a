/**
 * An empty module for wrangler `alias` entries that drop a dependency's part
 * the Worker never uses. wrangler.toml maps zod's "../locales/index.js" (the
 * `z.locales` namespace: every language's error messages, ~400 KB) here; zod
 * imports its English messages from "../locales/en.js", which stays.
 */
export {};
