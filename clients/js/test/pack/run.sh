#!/usr/bin/env bash
# The package as a user gets it: `npm pack`, installed into a throwaway project, used from
# TypeScript. `tsc --noEmit` must pass on good.ts (the API as documented) and fail on bad.ts
# (a misspelt fault field), its error naming the field; the ESM entry must load in Node.
# Offline once this package's node_modules are installed: the tarball has no dependencies,
# and the compiler is this package's own.
set -euo pipefail

package_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tsc="$package_dir/node_modules/typescript/bin/tsc"
work="$(mktemp -d "${TMPDIR:-/tmp}/billing-sandbox-pack.XXXXXX")"
trap 'rm -rf "$work"' EXIT

fail() {
  echo "pack test: $*" >&2
  exit 1
}

[[ -f "$tsc" ]] || fail "no TypeScript at $tsc: run npm install in $package_dir first"

# prepack builds dist/ first, so the tarball never holds a stale build.
(cd "$package_dir" && npm pack --silent --pack-destination "$work" >/dev/null)
tarballs=("$work"/billing-sandbox-*.tgz)
[[ -f "${tarballs[0]}" ]] || fail "npm pack made no tarball in $work"
tarball="${tarballs[0]}"

listing="$(tar -tzf "$tarball")"
# Every file package.json's `exports` points at, and the generated types the others import.
mapfile -t wanted < <(node -e '
  const targets = [];
  const walk = (value) => (typeof value === "string" ? targets.push(value) : Object.values(value).forEach(walk));
  walk(require(process.argv[1]).exports);
  for (const target of targets) console.log(`package/${target.replace(/^\.\//, "")}`);
' "$package_dir/package.json")
(( ${#wanted[@]} >= 2 )) || fail "package.json's exports name no files"
for path in "${wanted[@]}" package/dist/generated/control.d.ts; do
  grep -qx "$path" <<<"$listing" || fail "the tarball lacks $path"
done
if grep -E '^package/(src|test|scripts|node_modules)/' <<<"$listing" >/dev/null; then
  fail "the tarball holds more than dist/: $(grep -E '^package/(src|test|scripts|node_modules)/' <<<"$listing" | head -3)"
fi

project="$work/project"
mkdir "$project"
cd "$project"
cat >package.json <<'JSON'
{ "name": "throwaway", "version": "0.0.0", "private": true, "type": "module" }
JSON
# Without @types/node and with the DOM's lib, as a browser project has it: the types must
# need nothing of Node's. skipLibCheck off, so the package's .d.ts files are checked too.
cat >tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "lib": ["ES2022", "DOM"],
    "types": [],
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false
  }
}
JSON
npm install --silent --no-audit --no-fund --offline "$tarball" >/dev/null \
  || fail "installing $tarball into the throwaway project failed"

cat >good.ts <<'TS'
import {
  type FaultRule,
  type JournalEntry,
  JournalTimeout,
  Sandbox,
  SandboxError,
  type Snapshot,
  tenantId,
} from "billing-sandbox";

const sandbox = new Sandbox({ url: "http://127.0.0.1:8000", controlToken: "token", timeoutMs: 5_000 });
const tenant = sandbox.tenant(tenantId(["checkout.spec.ts", "pays a charge"]));

export async function everything(): Promise<void> {
  const health = await sandbox.health();
  const ok: "ok" = health.status;
  const rule: FaultRule = await tenant.faults.add({
    match: { api: "decoda", operationId: "createCharge" },
    effect: { status: 503 },
    count: 1,
  });
  await tenant.faults.remove(rule);
  await sandbox.faults.add({ effect: { latency: { kind: "lognormal", medianMs: 200, sigma: 0.5, capMs: 2_000 } }, forSeconds: 30 });
  const fired: number = await tenant.faults.injected({ effect: { drop: true, afterCommit: true } }, async (r) => r.fired);
  const removed: number = await sandbox.faults.clear();

  await tenant.clock.freeze(new Date("2026-01-01T00:00:00Z"));
  await tenant.clock.advance({ days: 31 });
  const frozen: boolean = (await tenant.clock.resume()).frozen;

  const page = await tenant.journal.query({ api: "decoda", status: 422, limit: 10 });
  const next: number | null = page.nextBefore;
  for await (const entry of tenant.journal.entries({ operationId: "createCharge" })) entry.seq.toFixed();
  const entry: JournalEntry = await tenant.journal.waitFor({ operationId: "createCharge", status: 201 }, { timeoutMs: 2_000 });
  await tenant.journal.waitFor((e) => e.path.startsWith("/billing/"), { intervalMs: 20 });

  const snapshot: Snapshot = await tenant.exportState();
  await tenant.importState(snapshot);
  const kept: string = await tenant.snapshot(async (saved) => saved.tenant);
  await tenant.reset();
  const candid = await tenant.reference("candid");
  const serviceLine: string | undefined = candid.service_lines[0]?.service_line_id;
  const applied = await tenant.applyScenario("decoda-overdue-clinic");
  const steps: number = applied.steps;
  const packs: string[] = (await sandbox.scenarios()).map((pack) => pack.name);
  const providers: string[] = (await tenant.pacts("web")).map((pact) => pact.provider.name);

  const sent = await tenant.decoda.trigger({ type: "PAYMENT_COMPLETED" });
  const eventId: string | null = sent.eventId;
  const deliveries = await tenant.decoda.deliveries({ limit: 10 });
  if (deliveries[0]) await tenant.decoda.send(deliveries[0].id);
  await tenant.decoda.failPayment("pay_1", "R01: insufficient funds");
  await tenant.decoda.voidCharge("chg_1");

  const headers: Record<string, string>[] = [tenant.decodaHeaders(), await tenant.candidHeaders(), await tenant.mycureHeaders()];
  const email: string = tenant.mycureEmail;

  try {
    await sandbox.reset();
  } catch (error) {
    if (error instanceof SandboxError) {
      const status: number | null = error.status;
      const said: string = error.sandboxMessage;
      console.log(status, said, error.body);
    }
    if (error instanceof JournalTimeout) console.log(error.seen.length);
  }
  console.log(ok, fired, removed, frozen, next, entry, kept, serviceLine, steps, packs, providers, eventId, headers, email);
}
TS

cat >bad.ts <<'TS'
import { Sandbox } from "billing-sandbox";

const tenant = new Sandbox("http://127.0.0.1:8000").tenant("acme.test");
export const added = tenant.faults.add({ effect: { stauts: 503 } });
TS

# One file each: a tsconfig without `files` would take both at once.
cat >tsconfig.good.json <<'JSON'
{ "extends": "./tsconfig.json", "files": ["good.ts"] }
JSON
cat >tsconfig.bad.json <<'JSON'
{ "extends": "./tsconfig.json", "files": ["bad.ts"] }
JSON
good_output="$(node "$tsc" --project tsconfig.good.json 2>&1)" || fail "tsc refused good.ts:"$'\n'"$good_output"
# And as a Node project has it: Node's types (this package's own @types/node), no DOM.
cat >tsconfig.node.json <<JSON
{
  "extends": "./tsconfig.json",
  "compilerOptions": { "lib": ["ES2022"], "types": ["node"], "typeRoots": ["$package_dir/node_modules/@types"] },
  "files": ["good.ts"]
}
JSON
good_output="$(node "$tsc" --project tsconfig.node.json 2>&1)" \
  || fail "tsc refused good.ts with Node's types and no DOM:"$'\n'"$good_output"
echo "pack test: good.ts type-checks against the packed types (with the DOM's lib, and with Node's types)"
if bad_output="$(node "$tsc" --project tsconfig.bad.json 2>&1)"; then
  fail "tsc accepted bad.ts, whose fault rule misspells 'status' as 'stauts'"
fi
grep -q "bad.ts(4,.*'stauts' does not exist in type" <<<"$bad_output" \
  || fail "tsc refused bad.ts, but not naming the misspelt field 'stauts':"$'\n'"$bad_output"
echo "pack test: bad.ts is refused, naming the field: $(grep -o "bad.ts([0-9,]*): error TS[0-9]*: [^']*'stauts' does not exist in type" <<<"$bad_output" | head -1)"

# The ESM entry loads in Node and exports what the API names.
node --input-type=module -e '
  const client = await import("billing-sandbox");
  for (const name of ["Sandbox", "Tenant", "Faults", "Clock", "Journal", "SandboxError", "JournalTimeout", "tenantId"]) {
    if (typeof client[name] !== "function") throw new Error(`billing-sandbox exports no ${name}`);
  }
  new client.Sandbox("http://127.0.0.1:8000").tenant(client.tenantId(["pack", "test"]));
' || fail "the packed ESM entry does not load in Node"
echo "pack test: $(basename "$tarball") passes"
