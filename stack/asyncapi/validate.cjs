#!/usr/bin/env node
// Validates an AsyncAPI document with the official parser (@asyncapi/parser), then checks every
// message example against its message's payload and headers schemas (the parser does not).
//
//   node validate.cjs docs/asyncapi.yaml
//
// Prints one JSON object on stdout: {"diagnostics": [...], "channels": [...], "operations": [...],
// "messages": [...], "examples": [...], "data": ...}, and one line per problem on stderr; "data" is the
// document as the parser's YAML reader read it (so a test can compare it with what was written). Exit code 1 when the
// parser reports an error, a document cannot be built or an example does not match its schema.
'use strict';

const fs = require('fs');
const path = require('path');
const { Parser } = require('@asyncapi/parser');
const { Yaml } = require('@stoplight/spectral-parsers');
const Ajv = require('ajv');

const SEVERITY = ['error', 'warning', 'info', 'hint'];

function exampleProblems(ajv, schema, value, what) {
  if (schema === undefined || value === undefined) return [];
  const validate = ajv.compile(schema);
  if (validate(value)) return [];
  return validate.errors.map((e) => `${what}${e.instancePath || ''}: ${e.message}`);
}

async function main(file) {
  const text = fs.readFileSync(file, 'utf8');
  const { document, diagnostics } = await new Parser().parse(text, { source: path.resolve(file) });
  const report = {
    diagnostics: diagnostics.map((d) => ({
      severity: SEVERITY[d.severity] || String(d.severity),
      code: String(d.code),
      message: d.message,
      path: d.path.map(String),
    })),
    channels: [],
    operations: [],
    messages: [],
    examples: [],
    data: Yaml.parse(text).data,
  };
  if (document) {
    report.channels = document.channels().all().map((c) => ({ id: c.id(), address: c.address() }));
    report.operations = document.operations().all().map((o) => ({
      id: o.id(),
      action: o.action(),
      channels: o.channels().all().map((c) => c.address()),
      messages: o.messages().all().map((m) => m.id()),
    }));
    // The parsed document's schemas carry the parser's x-parser-* annotations: not keywords.
    const ajv = new Ajv({ strict: false, allErrors: true });
    for (const message of document.components().messages().all()) {
      const key = message.bindings().get('kafka');
      report.messages.push({ id: message.id(), key: key ? key.value().key || null : null });
      const payload = message.payload() ? message.payload().json() : undefined;
      const headers = message.headers() ? message.headers().json() : undefined;
      for (const example of message.examples().all()) {
        const what = `${message.id()} example ${example.name() || '(unnamed)'}`;
        const problems = [
          ...exampleProblems(ajv, payload, example.payload(), `${what} payload`),
          ...exampleProblems(ajv, headers, example.headers(), `${what} headers`),
        ];
        report.examples.push({ message: message.id(), name: example.name(), problems });
      }
    }
  }
  for (const d of report.diagnostics) console.error(`${d.severity} ${d.code} at /${d.path.join('/')}: ${d.message}`);
  for (const e of report.examples) for (const p of e.problems) console.error(`example: ${p}`);
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  const failed =
    !document || report.diagnostics.some((d) => d.severity === 'error') || report.examples.some((e) => e.problems.length);
  return failed ? 1 : 0;
}

if (process.argv.length !== 3) {
  console.error('usage: node validate.cjs ASYNCAPI_FILE');
  process.exit(2);
}
// exitCode, not exit(): exit() would cut off a report still flowing into a pipe.
main(process.argv[2]).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`validate.cjs: ${err && err.stack ? err.stack : err}`);
    process.exitCode = 3;
  },
);
