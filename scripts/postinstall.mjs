// Runs after `npm ci` / `npm install`, on the Node that npm scripts get: the project's own (the `node` dev
// dependency puts node_modules/.bin/node first on npm scripts' PATH). Plain JavaScript without dependencies.
import { readFileSync } from "node:fs";

const carried = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).devDependencies.node;
if (process.versions.node !== carried) {
  console.error(`npm scripts run on Node ${process.version}, not the project's own Node ${carried} (node_modules/.bin/node): run \`npm ci\` with its install scripts allowed.`);
  process.exit(1);
}
// npm checks `engines` against the Node that runs npm itself, and npm 11 has no setting to check another one.
const npmNode = /\bnode\/v(\d+)\.(\d+)\.\d+/.exec(process.env.npm_config_user_agent ?? "");
if (npmNode && (Number(npmNode[1]) < 22 || (Number(npmNode[1]) === 22 && Number(npmNode[2]) < 12))) {
  console.log(`npm itself ran on Node ${npmNode[0].slice(5)}: the EBADENGINE warnings above are about that Node; npm scripts run on the project's own Node ${process.version}, which those packages accept.`);
}
