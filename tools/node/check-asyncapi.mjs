// Parse an AsyncAPI document with the official parser and print its diagnostics
// as JSON lines: {"severity": 0..3, "code": ..., "message": ..., "path": [...]}.
// Severity 0 is an error. Exit code 0 when no error was reported, 1 otherwise.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const text = readFileSync(process.argv[2], "utf8");
const { document, diagnostics } = await new Parser().parse(text);
for (const d of diagnostics) {
  console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path }));
}
const errors = diagnostics.filter((d) => d.severity === 0).length;
process.exit(errors === 0 && document !== undefined ? 0 : 1);
