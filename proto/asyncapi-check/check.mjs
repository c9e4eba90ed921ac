// Validates an AsyncAPI document (and the JSON Schemas it refers to) with the AsyncAPI parser: any error, or
// any warning, fails `make lint`.
import { Parser, fromFile } from '@asyncapi/parser';

const path = process.argv[2];
const { document, diagnostics } = await fromFile(new Parser(), path).parse();
const severities = ['error', 'warning', 'info', 'hint'];
let failed = !document;
for (const d of diagnostics) {
  const level = severities[d.severity] ?? d.severity;
  if (d.severity <= 1) failed = true;
  console.log(`${path}:${(d.range?.start?.line ?? 0) + 1}: ${level} ${d.code}: ${d.message} (${d.path.join('.')})`);
}
if (failed) process.exit(1);
console.log(`${path}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ${document.messages().length} messages`);
