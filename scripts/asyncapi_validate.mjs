// Validate AsyncAPI documents with the official parser (@asyncapi/parser, pinned in package.json).
// Usage: node scripts/asyncapi_validate.mjs <file>...  Prints one JSON object per file: its diagnostics.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
const results = {};
for (const path of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(path, "utf8"), { source: path });
  results[path] = {
    parsed: document !== undefined,
    channels: document ? document.channels().all().map((channel) => channel.address()) : [],
    diagnostics: diagnostics.map((d) => ({ code: d.code, severity: d.severity, message: d.message, path: d.path })),
  };
}
process.stdout.write(JSON.stringify(results));
