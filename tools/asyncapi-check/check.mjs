#!/usr/bin/env node
// Parses an AsyncAPI document with the official AsyncAPI parser (@asyncapi/parser) and prints
// one JSON object on stdout: {"document": path, "valid": bool, "diagnostics": [...]}, each
// diagnostic with its severity name, rule code, message and JSON path. Relative `$ref`s to the
// JSON Schemas beside the document are resolved from the file system, as an integrator's tools
// would. Exit code: 0 when the parser reports no error, 1 when it reports one, 2 on bad usage.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'information',
  [DiagnosticSeverity.Hint]: 'hint',
};

async function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write('usage: check.mjs ASYNCAPI_DOCUMENT\n');
    return 2;
  }
  const path = resolve(argv[0]);
  const text = await readFile(path, 'utf8');
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(text, {
    source: pathToFileURL(path).href,
  });
  const out = diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] ?? String(d.severity),
    code: d.code,
    message: d.message,
    path: d.path,
  }));
  const valid = document !== undefined && !out.some((d) => d.severity === 'error');
  process.stdout.write(JSON.stringify({ document: path, valid, diagnostics: out }, null, 2) + '\n');
  return valid ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`${err.stack ?? err}\n`); process.exitCode = 2; },
);
