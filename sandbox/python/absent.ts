/**
 * `#python-runtime` in a bundle built without Pyodide (the deployment's tool
 * groups do not offer pg_code_run_python): the wrangler config maps the
 * specifier here, so none of Pyodide's modules are uploaded. The tool is then
 * not listed; if a configuration change lists it anyway, it answers the
 * error below instead of loading an interpreter that is not there.
 */
import type { runPython as RunPython } from "./run";

export const runPython: typeof RunPython | undefined = undefined;
