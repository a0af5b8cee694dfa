// Fails when src/generated/control.ts is not what `npm run generate` makes of
// openapi/sandbox-control.yaml now, so the client cannot drift from the spec. It runs the
// `generate` script's own command (read from package.json) into a temporary file, so the
// check and the generation never disagree about the flags.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const checkedIn = "src/generated/control.ts";
const generate = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")).scripts.generate;
const output = ` -o ${checkedIn}`;
if (!generate.includes(output)) {
  console.error(`check-generated: the generate script no longer writes with "${output.trim()}": ${generate}`);
  process.exit(2);
}
const scratch = mkdtempSync(join(tmpdir(), "billing-sandbox-generated-"));
try {
  const fresh = join(scratch, "control.ts");
  execFileSync(generate.replace(output, ` -o ${JSON.stringify(fresh)}`), {
    cwd: packageDir,
    shell: true,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, PATH: `${join(packageDir, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
  });
  const expected = readFileSync(fresh, "utf8");
  const actual = readFileSync(join(packageDir, checkedIn), "utf8");
  if (expected !== actual) {
    const lines = (text) => text.split("\n");
    const [want, have] = [lines(expected), lines(actual)];
    const first = want.findIndex((line, i) => line !== have[i]);
    console.error(
      `check-generated: ${checkedIn} is out of date with ../../openapi/sandbox-control.yaml ` +
        `(first difference at line ${(first === -1 ? Math.min(want.length, have.length) : first) + 1}). ` +
        "Run `npm run generate` in clients/js and commit the result.",
    );
    process.exit(1);
  }
  console.log(`check-generated: ${checkedIn} matches ../../openapi/sandbox-control.yaml`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
