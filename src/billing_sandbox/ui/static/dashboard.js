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
    throw new Error(`${response.status}: ${message}`);
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

// ---- Tenants: counts, clocks, reset, snapshots ----

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

  function actions(tenant) {
    const seconds = el("input", { type: "number", min: "0", value: "3600", name: "seconds", "aria-label": `seconds to advance ${tenant}'s clock` });
    const upload = el("input", { type: "file", accept: "application/json,.json", "aria-label": `snapshot file for ${tenant}` });
    const box = el("div", { class: "actions" });
    const button = (label, work) => {
      const b = el("button", { type: "button" }, label);
      b.addEventListener("click", acting(b, work));
      return b;
    };
    box.append(
      button("Reset", async () => {
        if (!window.confirm(`Reset ${tenant}? Its writes are forgotten.`)) return;
        await control("POST", `${tenantPath(tenant)}/reset`);
        say(`${tenant} reset.`); await load();
      }),
      button("Freeze clock", async () => {
        const clock = await control("GET", `${tenantPath(tenant)}/clock`);
        await control("POST", `${tenantPath(tenant)}/clock`, { freezeAt: clock.now });
        say(`${tenant}'s clock frozen.`); await load();
      }),
      el("span", { class: "inline" }, seconds, button("Advance", async () => {
        await control("POST", `${tenantPath(tenant)}/clock`, { advanceSeconds: Number(seconds.value) });
        say(`${tenant}'s clock advanced ${seconds.value} s.`); await load();
      })),
      button("Resume clock", async () => {
        await control("POST", `${tenantPath(tenant)}/clock`, { resume: true });
        say(`${tenant}'s clock runs again.`); await load();
      }),
      button("Download snapshot", () => download(tenant)),
      el("span", { class: "inline" }, upload, button("Upload snapshot", async () => {
        if (!upload.files.length) throw new Error("choose a snapshot file first");
        await control("PUT", `${tenantPath(tenant)}/state`, await upload.files[0].text());
        say(`${tenant} restored from ${upload.files[0].name}.`); await load();
      })),
    );
    return box;
  }

  async function load() {
    const listed = await control("GET", "/tenants");
    const rows = new Map(listed.tenants.map((t) => [t.id, t]));
    for (const tenant of wanted) {
      if (!rows.has(tenant)) rows.set(tenant, { id: tenant, written: false, spilled: false, clock: null, apis: {}, absent: true });
    }
    body.replaceChildren();
    for (const t of rows.values()) {
      const clock = t.clock ? `${t.clock.now}${t.clock.frozen ? " (frozen)" : ""}` : (t.spilled ? "spilled to disk" : "not seeded yet");
      body.append(el("tr", { "data-tenant": t.id },
        el("th", { scope: "row" }, t.id),
        el("td", {}, Object.keys(t.apis).length ? counts(t.id, t.apis) : "-"),
        el("td", {}, t.spilled ? "yes (spilled)" : t.written ? "yes" : "no"),
        el("td", { class: "clock" }, clock),
        el("td", {}, actions(t.id))));
    }
    if (!rows.size) body.append(el("tr", {}, el("td", { colspan: 5 }, "No tenant yet: one is made by its first request.")));
  }

  const pick = document.getElementById("pick-tenant");
  pick.addEventListener("submit", acting(null, async () => {
    wanted.add(new FormData(pick).get("tenant").trim());
    await load();
  }));
  if (param("tenant")) wanted.add(param("tenant"));
  load().catch((error) => say(error.message, true));
}

// ---- Records ----

function records() {
  const form = document.getElementById("records-query");
  const list = document.getElementById("records");
  const summary = document.getElementById("records-summary");
  const prev = document.getElementById("records-prev");
  const next = document.getElementById("records-next");
  const limit = 20;
  let offset = 0;

  async function load() {
    const wanted = new FormData(form);
    const tenant = String(wanted.get("tenant")).trim();
    if (!tenant) return;
    const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    if (wanted.get("kind")) query.set("kind", wanted.get("kind"));
    if (wanted.get("q")) query.set("q", wanted.get("q"));
    const page = await control("GET", `${tenantPath(tenant)}/records/${wanted.get("api")}?${query}`);
    const kind = form.elements.kind;
    const chosen = page.kind;
    kind.replaceChildren(...Object.entries(page.kinds).map(([name, n]) => el("option", { value: name, selected: name === chosen }, `${name} (${n})`)));
    const last = Math.min(offset + page.records.length, page.total);
    summary.textContent = page.total ? `${page.kind} ${offset + 1}–${last} of ${page.total}` : `no ${page.kind} match`;
    list.replaceChildren(...page.records.map((record) => el("article", { class: "record" },
      el("h2", {}, record.id || record.write_off_id || record._id || page.kind),
      el("pre", {}, JSON.stringify(record, null, 2)))));
    prev.disabled = offset === 0;
    next.disabled = last >= page.total;
  }

  form.addEventListener("submit", acting(null, async () => { offset = 0; await load(); }));
  form.elements.api.addEventListener("change", () => { form.elements.kind.replaceChildren(el("option", { value: "" }, "first")); });
  prev.addEventListener("click", acting(prev, async () => { offset = Math.max(0, offset - limit); await load(); }));
  next.addEventListener("click", acting(next, async () => { offset += limit; await load(); }));
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

const PAGES = { overview, requests, tenants, records, faults, events };
document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  if (page) page();
});
