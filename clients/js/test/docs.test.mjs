// The TypeScript page of the docs stays true: each of its ```ts blocks is type-checked against
// the built package, as a user's file would be (`billing-sandbox` and
// `billing-sandbox/playwright` resolved through this package's own name and exports).
// tests/test_docs.py leaves these blocks to this test.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const page = join(packageDir, "..", "..", "docs", "typescript.md");
const tsc = join(packageDir, "node_modules", "typescript", "bin", "tsc");

/** Each fenced block of `language` in the Markdown `text`, with the line it starts on. */
function blocks(text, language) {
  const found = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "```" + language) {
      const start = i + 1;
      const body = [];
      for (i += 1; i < lines.length && lines[i].trim() !== "```"; i++) body.push(lines[i]);
      found.push({ line: start, code: body.join("\n") + "\n" });
    }
  }
  return found;
}

test("every TypeScript block of docs/typescript.md type-checks against the package", async () => {
  const shown = blocks(await readFile(page, "utf8"), "ts");
  assert.ok(shown.length >= 3, `docs/typescript.md shows ${shown.length} ts blocks`);
  // Inside the package's folder, so that its own name resolves to it (a package may import
  // itself by name) and @playwright/test comes from its devDependencies.
  const work = await mkdtemp(join(packageDir, ".docs-check-"));
  try {
    const files = [];
    for (const [index, block] of shown.entries()) {
      const file = `block-${index}-line-${block.line}.ts`;
      // `export {}` makes each block a module of its own (top-level await, no shared names).
      await writeFile(join(work, file), `${block.code}export {};\n`);
      files.push(file);
    }
    const config = {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2022", "DOM"],
        types: ["node"],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
      },
      files,
    };
    await writeFile(join(work, "tsconfig.json"), JSON.stringify(config));
    try {
      await run(process.execPath, [tsc, "-p", join(work, "tsconfig.json")], { cwd: work });
    } catch (error) {
      assert.fail(`a block of docs/typescript.md does not type-check:\n${error.stdout}${error.stderr}`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test("a block that misuses the client fails the check (the check can fail)", async () => {
  const work = await mkdtemp(join(packageDir, ".docs-check-"));
  try {
    await writeFile(
      join(work, "wrong.ts"),
      'import { Sandbox } from "billing-sandbox";\n' +
        'await new Sandbox("http://127.0.0.1:8000").faults.add({ effect: { stauts: 503 } });\n' +
        "export {};\n",
    );
    const config = {
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: [] },
      files: ["wrong.ts"],
    };
    await writeFile(join(work, "tsconfig.json"), JSON.stringify(config));
    await assert.rejects(
      run(process.execPath, [tsc, "-p", join(work, "tsconfig.json")], { cwd: work }),
      (error) => /stauts/.test(String(error.stdout)),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
