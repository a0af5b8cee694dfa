// The dashboard's one script: each page reads and changes the sandbox through the control
// API (/_sandbox/...), with fetch and EventSource. Whatever a record or a request holds is
// put on the page as text (textContent), never parsed as markup.
"use strict";

const CONTROL = "/_sandbox";

// ---- helpers ----

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(text, problem) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("problem", Boolean(problem));
}

async function control(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(CONTROL + path, options);
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* not JSON: keep the text */ }
  if (!response.ok) {
    const message = data && data.message ? data.message : text;
    const error = new Error(`${response.status}: ${message}`);
    error.status = response.status;
    error.body = data; // what the sandbox said beside its message (a scenario's failed step)
    throw error;
  }
  return data;
}

function pretty(text) {
  if (!text) return "(empty)";
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
}

function acting(button, work) {
  return async (event) => {
    if (event) event.preventDefault();
    if (button) button.disabled = true;
    try { await work(); } catch (error) { say(error.message, true); }
    finally { if (button) button.disabled = false; }
  };
}

function param(name) {
  return new URLSearchParams(window.location.search).get(name) || "";
}

const tenantPath = (tenant) => `/tenants/${encodeURIComponent(tenant)}`;

// ---- Overview: copy buttons ----

function overview() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const command = button.parentElement.querySelector("code").textContent;
      try { await navigator.clipboard.writeText(command); say("Copied."); }
      catch (_) { say("Select the command and copy it (this browser refused).", true); }
    });
  }
  traffic();
}

// ---- Overview: live traffic charts, drawn here as SVG ----

const SVG = "http://www.w3.org/2000/svg";
const DRAWN = 300; // seconds on a chart's x axis: the last 5 minutes
const HEIGHT = 100; // the charts' own units; CSS stretches them to the page's width

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

// The q-quantile of durations counted in buckets, as Prometheus's histogram_quantile reads
// it: linear inside the bucket the rank falls in; in the last (over every bound), that bound.
function quantile(q, counts, bounds) {
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (!total) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] > 0 && below + counts[i] >= rank) {
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * (rank - below) / counts[i];
    }
    below += counts[i];
  }
  return bounds[bounds.length - 1];
}

const millis = (seconds) => (seconds === null ? "–" : `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`);
const rate = (n) => (n >= 10 ? n.toFixed(0) : n.toFixed(1));

// A line through one value a second, x the second (oldest left), y scaled so `top` fills it.
function line(values, top) {
  return values.map((v, x) => `${x ? "L" : "M"}${x} ${(HEIGHT - (v / top) * HEIGHT).toFixed(2)}`).join("");
}

function drawChart(figure, api, seconds, bounds) {
  // Whole seconds only: the current one (ago 0) is still filling, and would dip every line.
  const requests = new Array(DRAWN).fill(0);
  const failures = new Array(DRAWN).fill(0);
  const lastMinute = new Array(bounds.length + 1).fill(0);
  let total = 0, failed = 0, recent = 0, recentFailed = 0;
  for (const s of seconds) {
    if (s.ago < 60) s.buckets.forEach((n, i) => { lastMinute[i] += n; });
    if (s.ago < 1 || s.ago > DRAWN) continue;
    requests[DRAWN - s.ago] = s.requests;
    failures[DRAWN - s.ago] = s.failures;
    total += s.requests; failed += s.failures;
    if (s.ago <= 10) { recent += s.requests; recentFailed += s.failures; }
  }
  const top = Math.max(1, ...requests);
  const p50 = quantile(0.5, lastMinute, bounds), p99 = quantile(0.99, lastMinute, bounds);
  const summary = `${rate(recent / 10)} requests/s, ${rate(recentFailed / 10)} failures/s (last 10 s); ` +
    (p50 === null ? "no request in the last minute" : `p50 ${millis(p50)}, p99 ${millis(p99)} (last minute)`) +
    `; ${total} requests, ${failed} failed in 5 minutes`;
  let chart = figure.querySelector("svg");
  if (!chart) {
    chart = svg("svg", { viewBox: `0 0 ${DRAWN} ${HEIGHT}`, preserveAspectRatio: "none", role: "img" });
    chart.append(svg("title", {}), svg("path", { class: "area" }), svg("path", { class: "requests" }),
      svg("path", { class: "failures" }));
    figure.append(el("div", { class: "peak" }), chart,
      el("div", { class: "axis", "aria-hidden": "true" }, el("span", {}, "5 min ago"), el("span", {}, "now")));
  }
  chart.setAttribute("aria-label", `${api}: requests and failures per second over the last 5 minutes. ${summary}`);
  chart.querySelector("title").textContent = `${api}: requests (blue) and failures (red) per second, last 5 minutes`;
  const path = line(requests, top);
  chart.querySelector(".area").setAttribute("d", `${path}L${DRAWN - 1} ${HEIGHT}L0 ${HEIGHT}Z`);
  chart.querySelector(".requests").setAttribute("d", path);
  chart.querySelector(".failures").setAttribute("d", line(failures, top));
  figure.querySelector(".peak").textContent = `peak ${top} request${top === 1 ? "" : "s"}/s`;
  const numbers = figure.querySelector(".numbers");
  numbers.textContent = summary;
  numbers.dataset.p50 = millis(p50);
  numbers.dataset.p99 = millis(p99);
  figure.dataset.requests = String(total);
}

function traffic() {
  const charts = document.getElementById("traffic");
  if (!charts) return; // the root page, or metrics off
  let busy = false;
  const timer = window.setInterval(read, 1000);

  async function read() {
    if (busy || document.hidden) return; // one read at a time; none for a tab nobody sees
    busy = true;
    try {
      const data = await control("GET", `/traffic?minutes=${DRAWN / 60}`);
      for (const [api, seconds] of Object.entries(data.apis)) {
        let figure = charts.querySelector(`figure[data-api="${CSS.escape(api)}"]`);
        if (!figure) {
          figure = el("figure", { class: "chart", "data-api": api },
            el("figcaption", {}, el("strong", {}, api), " ", el("span", { class: "numbers" })));
          charts.append(figure);
        }
        drawChart(figure, api, seconds, data.bucketBounds);
      }
    } catch (error) {
      say(error.message, true);
      if (error.status === 404) window.clearInterval(timer); // metrics turned off: nothing to read
    } finally {
      busy = false;
    }
  }
  read();
}

// ---- Requests: the journal, live ----

// What made an answer an error, from the vendor's own envelope: Decoda's `detail` (text or
// a list of {loc, msg}), Candid's `content`, MYCURE's `message` and `errors`, ours.
function problemsOf(entry) {
  const found = [];
  if (entry.fault) found.push(`fault: ${entry.fault}`);
  if (entry.status === 0) found.push("the connection was dropped");
  if (entry.status < 400) return found;
  let body;
  try { body = JSON.parse(entry.responseBody); } catch (_) { body = null; }
  if (!body || typeof body !== "object") {
    found.push(entry.responseBody || `status ${entry.status}`);
    return found;
  }
  const detail = body.detail;
  if (Array.isArray(detail)) {
    for (const issue of detail) {
      const where = Array.isArray(issue.loc) ? issue.loc.join(".") : "";
      found.push(where ? `${where}: ${issue.msg}` : String(issue.msg || JSON.stringify(issue)));
    }
  } else if (detail) found.push(String(detail));
  if (body.content) found.push(typeof body.content === "string" ? body.content : JSON.stringify(body.content));
  if (body.message) found.push(String(body.message));
  if (body.errors && typeof body.errors === "object") {
    for (const [field, issue] of Object.entries(body.errors)) {
      found.push(`${field}: ${typeof issue === "string" ? issue : JSON.stringify(issue)}`);
    }
  }
  if (found.length === 0) found.push(JSON.stringify(body));
  return found;
}

function requests() {
  const body = document.querySelector("#requests tbody");
  const form = document.getElementById("filters");
  const live = document.getElementById("live");
  const byId = new Map();
  let newest = 0;
  // Entries are known by their sequence number (and, in a cluster, their shard's name).
  const keyOf = (entry) => (entry.shard ? `${entry.shard}:${entry.seq}` : String(entry.seq));

  function admitted(entry) {
    const wanted = Object.fromEntries(new FormData(form));
    if (wanted.tenant && entry.tenant !== wanted.tenant.trim()) return false;
    if (wanted.api && entry.api !== wanted.api) return false;
    if (wanted.operationId && entry.operationId !== wanted.operationId.trim()) return false;
    if (wanted.statusClass && String(Math.floor(entry.status / 100)) !== wanted.statusClass) return false;
    if (wanted.failures && entry.status < 400 && entry.status !== 0 && !entry.fault) return false;
    return true;
  }

  function show(entry) {
    const section = document.getElementById("detail");
    const facts = document.getElementById("detail-facts");
    facts.replaceChildren();
    for (const [name, value] of [
      ["request", `${entry.method} ${entry.path}${entry.query ? "?" + entry.query : ""}`],
      ["status", entry.status], ["operation", entry.operationId], ["API", entry.api],
      ["tenant", entry.tenant || "-"], ["time", entry.time], ["duration", `${entry.durationMs} ms`],
      ["fault", entry.fault || "none"],
    ]) facts.append(el("dt", {}, name), el("dd", {}, value));
    const problems = document.getElementById("detail-problems");
    const found = problemsOf(entry);
    problems.replaceChildren(...(found.length ? found : ["nothing: it succeeded"]).map((p) => el("li", {}, p)));
    document.getElementById("detail-request").textContent = pretty(entry.requestBody);
    document.getElementById("detail-response").textContent = pretty(entry.responseBody);
    section.hidden = false;
    // Focus for keyboard and screen-reader users; scroll only as far as it takes to show it.
    section.focus({ preventScroll: true });
    section.scrollIntoView({ block: "nearest" });
  }

  function row(entry) {
    const failed = entry.status >= 400 || entry.status === 0 || entry.fault;
    const open = el("button", { type: "button", class: "link", onclick: () => show(entry) },
      `${entry.method} ${entry.path}`);
    const tr = el("tr", { "data-key": keyOf(entry), "data-status": entry.status, class: failed ? "failed" : null },
      el("td", {}, entry.seq), el("td", {}, entry.time.slice(11, 19)), el("td", {}, entry.tenant || "-"),
      el("td", {}, entry.api), el("td", {}, open, entry.fault ? el("span", { class: "tag" }, entry.fault) : null),
      el("td", { class: "status" }, entry.status), el("td", {}, entry.durationMs));
    tr.hidden = !admitted(entry);
    return tr;
  }

  function add(entry) {
    const key = keyOf(entry);
    if (byId.has(key)) return;
    byId.set(key, entry);
    if (!entry.shard) newest = Math.max(newest, entry.seq);
    body.prepend(row(entry));
    while (body.children.length > 500) {
      byId.delete(body.lastElementChild.dataset.key);
      body.lastElementChild.remove();
    }
  }

  form.addEventListener("input", () => {
    for (const tr of body.children) tr.hidden = !admitted(byId.get(tr.dataset.key));
  });
  form.addEventListener("submit", (event) => event.preventDefault());

  function listen() {
    // `after` only on the first connection: a reconnecting EventSource sends Last-Event-ID.
    // In a cluster each entry names its shard, and the merged stream resumes each shard.
    const shards = {};
    for (const entry of byId.values()) if (entry.shard) shards[entry.shard] = Math.max(shards[entry.shard] || 0, entry.seq);
    const cursor = Object.entries(shards).map(([name, seq]) => `${name}=${seq}`).join(",");
    const stream = new EventSource(`${CONTROL}/requests/stream?after=${newest}${cursor ? "&cursor=" + cursor : ""}`);
    stream.addEventListener("open", () => { live.textContent = "live: new requests appear as they arrive"; });
    stream.addEventListener("request", (event) => add(JSON.parse(event.data)));
    stream.addEventListener("error", () => { live.textContent = "reconnecting…"; });
  }

  control("GET", "/requests?limit=200")
    .then((page) => { for (const entry of page.requests.reverse()) add(entry); })
    .catch((error) => say(error.message, true))
    .finally(listen);
}

// ---- Tenants: counts, clocks, snapshots; resets and restores set apart ----

// A span of time as a person says it: the two largest units ("3 days 2 hours", "5 minutes").
function spanOf(seconds) {
  let rest = Math.round(Math.abs(seconds));
  const parts = [];
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]]) {
    const n = Math.floor(rest / size);
    if (n && parts.length < 2) parts.push(`${n} ${unit}${n === 1 ? "" : "s"}`);
    rest -= n * size;
  }
  return parts.join(" ");
}

// A tenant's clock: its instant (UTC), and how far it is from the server's own time.
function clockOf(clock) {
  const at = new Date(clock.now);
  const iso = at.toISOString();
  // The server says how far ahead the tenant is; an older one did not: measure it here.
  const ahead = typeof clock.offsetSeconds === "number" ? clock.offsetSeconds : (at.getTime() - Date.now()) / 1000;
  const offset = Math.abs(ahead) < 1 ? "in step with the server"
    : `${ahead > 0 ? "+" : "−"}${spanOf(ahead)} ${ahead > 0 ? "ahead" : "behind"}`;
  return el("div", {},
    el("time", { datetime: clock.now }, `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`),
    el("div", { class: "offset" }, offset),
    clock.frozen ? el("span", { class: "tag frozen" }, "frozen") : null);
}

const UNITS = [["minutes", 60], ["hours", 3600], ["days", 86400]];

function tenants() {
  const body = document.querySelector("#tenants tbody");
  const wanted = new Set();

  function counts(tenant, apis) {
    const list = el("ul", { class: "plain" });
    for (const [api, kinds] of Object.entries(apis)) {
      const parts = Object.entries(kinds).map(([kind, n]) => `${n} ${kind}`).join(", ");
      list.append(el("li", {}, el("a", { href: `records?tenant=${encodeURIComponent(tenant)}&api=${api}` }, api), `: ${parts || "none"}`));
    }
    return list;
  }

  async function download(tenant) {
    const response = await fetch(`${CONTROL}${tenantPath(tenant)}/state`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: `${tenant}.snapshot.json` });
    document.body.append(link);
    link.click();
    link.remove();
    say(`Snapshot of ${tenant} downloaded.`);
  }

  const button = (label, work, attributes) => {
    const b = el("button", { type: "button", ...attributes }, label);
    b.addEventListener("click", acting(b, work));
    return b;
  };

  // What changes nothing that cannot be changed back: the clock, a download.
  function actions(tenant) {
    const amount = el("input", { type: "number", min: "1", value: "1", name: "amount", "aria-label": `how far to advance ${tenant}'s clock` });
    const unit = el("select", { name: "unit", "aria-label": `unit to advance ${tenant}'s clock by` },
      ...UNITS.map(([name, size]) => el("option", { value: size, selected: name === "hours" }, name)));
    return el("div", { class: "actions", role: "group", "aria-label": `${tenant}'s clock and snapshot` },
      button("Freeze clock", async () => {
        const clock = await control("GET", `${tenantPath(tenant)}/clock`);
        await control("POST", `${tenantPath(tenant)}/clock`, { freezeAt: clock.now });
        say(`${tenant}'s clock frozen.`); await load();
      }),
      el("span", { class: "inline" }, amount, unit, button("Advance", async () => {
        const seconds = Math.round(Number(amount.value) * Number(unit.value));
        if (!(seconds > 0)) throw new Error("advance the clock by a positive amount");
        await control("POST", `${tenantPath(tenant)}/clock`, { advanceSeconds: seconds });
        say(`${tenant}'s clock advanced ${spanOf(seconds)}.`); await load();
      })),
      button("Resume clock", async () => {
        await control("POST", `${tenantPath(tenant)}/clock`, { resume: true });
        say(`${tenant}'s clock runs again.`); await load();
      }),
      button("Download snapshot", () => download(tenant)));
  }

  // What forgets the tenant's writes: each asks first, and a "no" leaves everything as it was.
  function destructive(tenant) {
    const upload = el("input", { type: "file", accept: "application/json,.json", "aria-label": `snapshot file for ${tenant}` });
    return el("div", { class: "actions", role: "group", "aria-label": `destructive: ${tenant}` },
      button("Reset", async () => {
        if (!window.confirm(`Reset ${tenant}? Its writes and its clock are forgotten.`)) { say(`${tenant} left as it was.`); return; }
        await control("POST", `${tenantPath(tenant)}/reset`);
        say(`${tenant} reset.`); await load();
      }, { class: "danger" }),
      el("span", { class: "inline" }, upload, button("Restore snapshot", async () => {
        if (!upload.files.length) throw new Error("choose a snapshot file first");
        const file = upload.files[0];
        if (!window.confirm(`Replace ${tenant}'s records with ${file.name}? What it holds now is lost.`)) { say(`${tenant} left as it was.`); return; }
        await control("PUT", `${tenantPath(tenant)}/state`, await file.text());
        say(`${tenant} restored from ${file.name}.`); await load();
      }, { class: "danger" })));
  }

  async function load() {
    const listed = await control("GET", "/tenants");
    const rows = new Map(listed.tenants.map((t) => [t.id, t]));
    for (const tenant of wanted) {
      if (!rows.has(tenant)) rows.set(tenant, { id: tenant, written: false, spilled: false, clock: null, apis: {}, absent: true });
    }
    body.replaceChildren();
    for (const t of rows.values()) {
      const clock = t.clock ? clockOf(t.clock) : (t.spilled ? "spilled to disk" : "not seeded yet");
      body.append(el("tr", { "data-tenant": t.id },
        el("th", { scope: "row" }, t.id),
        el("td", {}, Object.keys(t.apis).length ? counts(t.id, t.apis) : "-"),
        el("td", {}, t.spilled ? "yes (spilled)" : t.written ? "yes" : "no"),
        el("td", { class: "clock" }, clock),
        el("td", {}, actions(t.id)),
        el("td", { class: "danger" }, destructive(t.id))));
    }
    if (!rows.size) body.append(el("tr", {}, el("td", { colspan: 6 }, "No tenant yet: one is made by its first request.")));
  }

  const pick = document.getElementById("pick-tenant");
  pick.addEventListener("submit", acting(null, async () => {
    wanted.add(new FormData(pick).get("tenant").trim());
    await load();
  }));

  // Scenarios: the packs, and one applied to a tenant (it writes: it asks first).
  const applying = document.getElementById("apply-scenario");
  const failure = document.getElementById("scenario-failure");

  async function packs() {
    const { scenarios } = await control("GET", "/scenarios");
    applying.elements.scenario.replaceChildren(...scenarios.map((s) => el("option", { value: s.name }, s.name)));
    const rows = document.querySelector("#scenario-packs tbody");
    rows.replaceChildren(...scenarios.map((s) => el("tr", { "data-scenario": s.name },
      el("th", { scope: "row" }, s.name),
      el("td", {}, s.problems ? el("span", { class: "problem" }, `not a valid scenario: ${s.problems.join("; ")}`) : s.description),
      el("td", {}, s.apis.join(", ")), el("td", {}, s.steps),
      el("td", {}, s.source === "shipped" ? "shipped" : "--scenarios-dir"))));
    if (!scenarios.length) rows.append(el("tr", {}, el("td", { colspan: 5 }, "No scenario pack here: add your own with --scenarios-dir.")));
  }

  // Why a scenario was not applied: its problems, each where it is in the file, or the step
  // that failed, with its request and the answer it got.
  function notApplied(body) {
    document.getElementById("scenario-failure-summary").textContent = body.message;
    document.getElementById("scenario-failure-problems").replaceChildren(
      ...(body.problems || []).map((p) => el("li", {}, p.location ? `${p.location}: ${p.message}` : p.message)));
    const step = document.getElementById("scenario-failure-step");
    step.hidden = body.error !== "StepFailed";
    if (!step.hidden) {
      document.getElementById("scenario-failure-request").textContent = JSON.stringify(body.request, null, 2);
      document.getElementById("scenario-failure-answer").textContent = body.answer
        ? JSON.stringify(body.answer, null, 2) : `never sent: ${body.reason}`;
    }
    failure.hidden = false;
    failure.focus({ preventScroll: true });
    failure.scrollIntoView({ block: "nearest" });
  }

  applying.addEventListener("submit", acting(applying.querySelector("button[type=submit]"), async () => {
    const given = new FormData(applying);
    const name = String(given.get("scenario") || "");
    if (!name) throw new Error("no scenario to apply");
    const tenant = String(given.get("tenant") || "").trim() || name;
    if (!window.confirm(`Apply ${name} to ${tenant}? Its steps add records to ${tenant}.`)) { say(`${tenant} left as it was.`); return; }
    failure.hidden = true;
    let applied;
    try {
      applied = await control("POST", `${tenantPath(tenant)}/scenarios`, { name });
    } catch (error) {
      const kind = error.body && error.body.error;
      if (kind !== "StepFailed" && kind !== "ScenarioInvalid") throw error;
      notApplied(error.body);
      say(`${name} was not applied: ${tenant} is as it was.`, true);
      return;
    }
    say(`${name} applied to ${tenant}: ${applied.steps} steps.`);
    wanted.add(tenant);
    await load();
  }));
  packs().catch((error) => say(error.message, true));
  const all = document.getElementById("reset-all");
  all.addEventListener("click", acting(all, async () => {
    if (!window.confirm("Reset every tenant? Every tenant's writes and clock are forgotten.")) { say("Every tenant left as it was."); return; }
    await control("POST", "/reset");
    say("Every tenant reset."); await load();
  }));
  if (param("tenant")) wanted.add(param("tenant"));
  load().catch((error) => say(error.message, true));
}

// ---- Records: a table of each kind's key fields, newest first, the JSON on demand ----

const USD = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const cents = (n) => (typeof n === "number" ? USD.format(n / 100) : n);
const fullName = (p) => (p ? [p.firstName, p.lastName].filter(Boolean).join(" ") : "");
const listed = (values) => (Array.isArray(values) ? values.join(", ") : values);

// An instant as a person reads it, UTC, in a <time> that keeps it exact: from ISO text (Decoda,
// Candid) or milliseconds since the epoch (MYCURE).
function when(value) {
  if (value === null || value === undefined || value === "") return "";
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) return String(value);
  const iso = at.toISOString();
  return el("time", { datetime: iso }, `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`);
}

function day(value) {
  if (value === null || value === undefined) return "";
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? String(value) : at.toISOString().slice(0, 10);
}

// The fields a person scans in each kind of record, as [heading, read it from the record as
// its API serves it]. The first is the record's id; a kind not named here shows its id and its
// first few plain fields.
const COLUMNS = {
  candid: {
    "write-offs": [
      ["write-off", (r) => r.write_off_id],
      ["type", (r) => r.type],
      ["patient or payer", (r) => r.patient_external_id || (r.payer && r.payer.payer_name)
        || (r.non_insurance_payer && r.non_insurance_payer.name)],
      ["amount", (r) => cents(r.amount_cents)],
      ["reason", (r) => r.write_off_reason],
      ["status", (r) => (r.reverted_by_write_off_id ? "reverted" : r.reverts_write_off_id ? "a reversal" : "")],
      ["written off", (r) => when(r.write_off_timestamp)],
    ],
  },
  decoda: {
    charges: [
      ["charge", (r) => r.id], ["patient", (r) => fullName(r.patient) || r.patientId],
      ["description", (r) => r.description], ["total", (r) => cents(r.total)],
      ["outstanding", (r) => cents(r.totalOutstanding)], ["status", (r) => r.status],
      ["created", (r) => when(r.createdDate)],
    ],
    payments: [
      ["payment", (r) => r.id], ["patient", (r) => r.patientId], ["amount", (r) => cents(r.amount)],
      ["medium", (r) => r.paymentMedium], ["status", (r) => r.status], ["created", (r) => when(r.createdDate)],
    ],
    refunds: [
      ["refund", (r) => r.id], ["payment", (r) => r.paymentId], ["amount", (r) => cents(r.amount)],
      ["reason", (r) => r.reason], ["status", (r) => r.status], ["created", (r) => when(r.createdDate)],
    ],
    adjustments: [
      ["adjustment", (r) => r.id], ["charge", (r) => r.chargeId], ["amount", (r) => cents(r.amount)],
      ["type", (r) => r.adjustmentType], ["reason", (r) => r.reason], ["created", (r) => when(r.createdDate)],
    ],
    plans: [
      ["plan", (r) => r.id], ["charges", (r) => listed(r.chargeIds)], ["frequency", (r) => r.frequency],
      ["installments", (r) => r.installments], ["each", (r) => cents(r.installmentAmount)],
      ["starts", (r) => day(r.startDate)],
    ],
    patients: [
      ["patient", (r) => r.id], ["name", fullName], ["email", (r) => r.email],
      ["phone", (r) => r.phoneNumber], ["spent", (r) => cents(r.totalSpent)], ["created", (r) => when(r.createdDate)],
    ],
    webhooks: [
      ["webhook", (r) => r.id], ["url", (r) => r.url], ["subscriptions", (r) => listed(r.subscriptions)],
      ["archived", (r) => (r.isArchived ? "yes" : "no")], ["created", (r) => when(r.createdDate)],
    ],
  },
  mycure: {
    "billing-soas": [
      ["statement", (r) => r.id], ["SOA number", (r) => r.externalSOAId],
      ["customer", (r) => [r.customerType, r.customerSubtype].filter(Boolean).join(" / ")],
      ["period", (r) => `${day(r.startAt)} – ${day(r.endAt)}`],
      ["status", (r) => (r.finalizedAt ? "finalized" : r.preparedAt ? "prepared" : "draft")],
      ["created", (r) => when(r.createdAt)],
    ],
  },
};

function columnsOf(api, kind, records) {
  const known = (COLUMNS[api] || {})[kind];
  if (known) return known;
  const idOf = (r) => r.id || r._id || "";
  const plain = [];
  for (const record of records) {
    for (const [name, value] of Object.entries(record)) {
      if (name === "id" || name === "_id" || plain.includes(name)) continue;
      if (value === null || typeof value === "object") continue;
      if (plain.length < 5) plain.push(name);
    }
  }
  return [[kind, idOf], ...plain.map((name) => [name, (r) => r[name]])];
}

function records() {
  const form = document.getElementById("records-query");
  const table = document.getElementById("records");
  const summary = document.getElementById("records-summary");
  const prev = document.getElementById("records-prev");
  const next = document.getElementById("records-next");
  const limit = 20;
  let offset = 0;

  // One record: its key fields, and a button that shows (and hides) its JSON in a row below.
  function rows(columns, record, index) {
    const id = String(columns[0][1](record) || `#${offset + index + 1}`);
    const json = el("tr", { class: "json", hidden: true, id: `record-json-${index}` });
    const toggle = el("button", { type: "button", class: "small", "aria-expanded": "false",
      "aria-controls": json.id, "aria-label": `JSON of ${id}` }, "JSON");
    toggle.addEventListener("click", () => {
      if (!json.firstChild) {
        json.append(el("td", { colspan: columns.length + 1 }, el("pre", {}, JSON.stringify(record, null, 2))));
      }
      json.hidden = !json.hidden;
      toggle.setAttribute("aria-expanded", String(!json.hidden));
    });
    const cells = columns.map(([, read], n) => {
      const value = read(record);
      const shown = value === null || value === undefined || value === "" ? "—" : value;
      return n === 0 ? el("th", { scope: "row" }, shown) : el("td", {}, shown);
    });
    return [el("tr", { class: "record", "data-id": id }, ...cells, el("td", {}, toggle)), json];
  }

  async function load() {
    const wanted = new FormData(form);
    const tenant = String(wanted.get("tenant")).trim();
    if (!tenant) return;
    const api = String(wanted.get("api"));
    const query = new URLSearchParams({ limit: String(limit), offset: String(offset), order: "newest" });
    if (wanted.get("kind")) query.set("kind", wanted.get("kind"));
    if (wanted.get("q")) query.set("q", wanted.get("q"));
    const page = await control("GET", `${tenantPath(tenant)}/records/${api}?${query}`);
    const kind = form.elements.kind;
    const chosen = page.kind;
    kind.replaceChildren(...Object.entries(page.kinds).map(([name, n]) => el("option", { value: name, selected: name === chosen }, `${name} (${n})`)));
    const columns = columnsOf(api, page.kind, page.records);
    table.tHead.replaceChildren(el("tr", {}, ...columns.map(([heading]) => el("th", { scope: "col" }, heading)),
      el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "JSON"))));
    table.tBodies[0].replaceChildren(...page.records.flatMap((record, index) => rows(columns, record, index)));
    const last = Math.min(offset + page.records.length, page.total);
    summary.textContent = page.total ? `${page.kind} ${offset + 1}–${last} of ${page.total}, newest first` : `no ${page.kind} match`;
    prev.disabled = offset === 0;
    next.disabled = last >= page.total;
  }

  form.addEventListener("submit", acting(null, async () => { offset = 0; await load(); }));
  form.elements.api.addEventListener("change", () => { form.elements.kind.replaceChildren(el("option", { value: "" }, "first")); });
  // Not `acting(prev, …)`: the page just loaded decides whether each button is enabled.
  prev.addEventListener("click", acting(null, async () => { offset = Math.max(0, offset - limit); await load(); }));
  next.addEventListener("click", acting(null, async () => { offset += limit; await load(); }));
  for (const name of ["tenant", "api", "q"]) if (param(name)) form.elements[name].value = param(name);
  load().catch((error) => say(error.message, true));
}

// ---- Faults ----

function faults() {
  const body = document.querySelector("#faults tbody");
  const form = document.getElementById("add-fault");
  const describe = (object) => Object.entries(object).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ") || "every call";

  async function load() {
    const { faults: rules } = await control("GET", "/faults");
    body.replaceChildren();
    for (const rule of rules) {
      const remove = el("button", { type: "button" }, "Remove");
      remove.addEventListener("click", acting(remove, async () => {
        await control("DELETE", `/faults/${encodeURIComponent(rule.id)}`);
        say(`Rule ${rule.id} removed.`); await load();
      }));
      body.append(el("tr", { "data-rule": rule.id },
        el("th", { scope: "row" }, rule.id), el("td", {}, describe(rule.match)),
        el("td", {}, describe(rule.effect)), el("td", { class: "fired" }, rule.fired), el("td", {}, remove)));
    }
    if (!rules.length) body.append(el("tr", {}, el("td", { colspan: 5 }, "No rule: every call is answered as usual.")));
  }

  form.addEventListener("submit", acting(form.querySelector("button[type=submit]"), async () => {
    const given = Object.fromEntries(new FormData(form));
    const match = {};
    for (const name of ["api", "operationId", "method", "path", "tenant"]) if (given[name]) match[name] = given[name].trim();
    const effect = {};
    const value = Number(given.value);
    if (given.effect === "status" || given.effect === "delayMs" || given.effect === "dribbleMs") effect[given.effect] = value;
    else if (given.effect === "latencyUniform") effect.latency = { kind: "uniform", minMs: 0, maxMs: value };
    else if (given.effect === "latencyLognormal") effect.latency = { kind: "lognormal", medianMs: value, sigma: 0.5 };
    else effect[given.effect] = true;
    if (given.afterCommit) effect.afterCommit = true;
    const rule = { match, effect, probability: Number(given.probability || 1) };
    if (given.count) rule.count = Number(given.count);
    if (given.forSeconds) rule.forSeconds = Number(given.forSeconds);
    const made = await control("POST", "/faults", rule);
    say(`Rule ${made.id} added.`);
    await load();
  }));
  load().catch((error) => say(error.message, true));
}

// ---- Events: Decoda deliveries, MYCURE sockets ----

function events() {
  const form = document.getElementById("deliveries-query");
  const body = document.querySelector("#deliveries tbody");

  async function load() {
    const tenant = String(new FormData(form).get("tenant")).trim();
    if (!tenant) return;
    const page = await control("GET", `${tenantPath(tenant)}/decoda/deliveries?limit=100`);
    body.replaceChildren();
    for (const delivery of page.deliveries) {
      const send = el("button", { type: "button" }, "Send again");
      send.addEventListener("click", acting(send, async () => {
        await control("POST", `${tenantPath(tenant)}/decoda/deliveries/${encodeURIComponent(delivery.id)}/send`);
        say(`Delivery ${delivery.id} sent again.`);
        window.setTimeout(() => load().catch((error) => say(error.message, true)), 500);
      }));
      const tries = el("ol", { class: "tries" }, ...delivery.tries.map((t) =>
        el("li", {}, `${t.at}: ${t.status === null ? "no answer" : t.status}${t.error ? " — " + t.error : ""} (${t.durationMs} ms)`)));
      body.append(el("tr", { "data-delivery": delivery.id },
        el("th", { scope: "row" }, delivery.id), el("td", {}, delivery.eventId), el("td", {}, delivery.url),
        el("td", {}, delivery.sending ? "sending" : delivery.nextTryDue ? `next try ${delivery.nextTryDue}` : "settled"),
        el("td", { class: "try-count" }, delivery.tries.length, tries), el("td", {}, send)));
    }
    if (!page.deliveries.length) body.append(el("tr", {}, el("td", { colspan: 6 }, "No delivery for this tenant.")));
  }

  async function sockets() {
    const listed = await control("GET", "/tenants");
    const list = document.getElementById("sockets");
    const open = listed.tenants.filter((t) => t.sockets > 0);
    list.replaceChildren(...open.map((t) => el("li", {}, `${t.id}: ${t.sockets} socket${t.sockets === 1 ? "" : "s"}`)));
    if (!open.length) list.append(el("li", {}, "none connected"));
  }

  form.addEventListener("submit", acting(null, load));
  if (param("tenant")) form.elements.tenant.value = param("tenant");
  load().catch((error) => say(error.message, true));
  sockets().catch((error) => say(error.message, true));
}

// The root page (`GET /`) shows the overview's first calls, with the same copy buttons.
const PAGES = { overview, root: overview, requests, tenants, records, faults, events };
document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  if (page) page();
});
