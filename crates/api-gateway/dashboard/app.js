// xregion dashboard: plain JS, no build step, no third-party code.
// The token lives in sessionStorage (this tab only) and travels as
// `Authorization: Bearer`; the live feed is read with fetch() for the same
// reason (EventSource cannot send headers, and a token in a URL leaks).
"use strict";

const KEY = "xregion.token";
const $ = (sel) => document.querySelector(sel);
const state = { services: new Map(), transfers: new Map(), windows: new Map(), regions: [] };
let feed = null; // AbortController of the live feed
let refreshTimer = null;

function token() { return sessionStorage.getItem(KEY) || ""; }

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) { signOut("Signed out: " + (data.message || "the token was refused")); }
  if (!r.ok) { const e = new Error(data.message || r.statusText); e.status = r.status; throw e; }
  return data;
}

// ---- formatting ----
function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0; n = Number(n) || 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
}
function duration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60 ? " " + (s % 60) + "s" : "");
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}
function time(ms) { return ms == null ? "—" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"); }
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function shortId(id) { return id.length > 14 ? id.slice(0, 13) + "…" : id; }
function showError(sel, msg) { const e = $(sel); e.textContent = msg || ""; e.hidden = !msg; }

// ---- services table ----
function renderServices() {
  const tbody = $("#services tbody");
  tbody.replaceChildren();
  const list = [...state.services.values()].sort((a, b) => (a.created_at_ms || 0) - (b.created_at_ms || 0));
  $("#empty").hidden = list.length > 0;
  for (const s of list) {
    const tr = el("tr");
    tr.dataset.service = s.id;
    const id = el("td", "mono", shortId(s.id)); id.title = s.id; tr.append(id);
    tr.append(el("td", "", s.engine), el("td", "mono", s.source_instance_id),
      el("td", "", s.source_region + " → " + s.target_region));
    const st = el("td"); st.append(el("span", "state " + s.state, s.state)); tr.append(st);
    tr.append(el("td", "mono latest", time(s.latest_data_time_ms)));
    tr.append(lagCell(s));
    tr.append(verifiedCell(s));
    tr.append(el("td", "synced", s.synced_backups + " (" + bytes(s.synced_bytes) + ")"));
    const err = el("td", "err", s.last_error || ""); err.title = s.last_error || ""; tr.append(err);
    const act = el("td");
    if (s.state !== "DELETING" && s.state !== "DELETED") {
      const del = el("button", "delete", "Delete");
      del.addEventListener("click", () => askDelete(s));
      act.append(del);
    }
    tr.append(act);
    tbody.append(tr);
  }
}

// The point the last successful restore drill verified, with its RTO; the
// last drill's time and error on hover.
function verifiedCell(s) {
  let text = time(s.verified_restorable_time_ms);
  if (s.last_drill_rto_ms != null) text += " (" + duration(s.last_drill_rto_ms / 1000) + ")";
  const td = el("td", "mono verified", text);
  td.title = s.last_drill_time_ms == null ? "never drilled"
    : "last drill " + time(s.last_drill_time_ms) + (s.last_drill_error ? ": FAILED " + s.last_drill_error : ": ok");
  return td;
}

function lagCell(s) {
  const td = el("td");
  const box = el("div", "lag");
  if (s.lag_seconds == null) { box.textContent = "—"; td.append(box); return td; }
  const promise = s.lag_promise_seconds || 43200;
  if (s.lag_seconds > promise) box.classList.add("late");
  const meter = el("span", "meter"); const fill = el("i");
  fill.style.width = Math.min(100, (100 * s.lag_seconds) / promise) + "%";
  meter.append(fill);
  box.append(meter, el("span", "", duration(s.lag_seconds)));
  box.title = "lag " + duration(s.lag_seconds) + " of the " + duration(promise) + " promise";
  td.append(box);
  return td;
}

// ---- transfers ----
function renderTransfers() {
  const box = $("#transfers");
  box.replaceChildren();
  // A copy whose worker went quiet (stopped, crashed) is not shown forever;
  // the job is retried and reports again under the same backup.
  for (const [id, t] of state.transfers) if (Date.now() - t.seen > 60000) state.transfers.delete(id);
  if (state.transfers.size === 0) { box.append(el("p", "hint idle", "No copy running.")); return; }
  for (const t of state.transfers.values()) {
    const row = el("div", "transfer" + (t.done ? " done" : ""));
    row.dataset.backup = t.backup_id;
    row.dataset.bytesDone = t.bytes_done;
    const svc = state.services.get(t.service_id);
    const name = el("div", "name mono", t.backup_id);
    name.title = (svc ? svc.source_instance_id + " · " : "") + t.service_id;
    const track = el("div", "track"); const fill = el("div", "fill");
    const pct = t.bytes_total ? (100 * t.bytes_done) / t.bytes_total : 0;
    fill.style.width = pct.toFixed(1) + "%";
    track.append(fill);
    const eta = t.done ? "done" : t.rate_bytes_per_sec > 0
      ? "ETA " + duration((t.bytes_total - t.bytes_done) / t.rate_bytes_per_sec) : "ETA —";
    const nums = el("div", "nums");
    nums.append(el("span", "bytes", bytes(t.bytes_done) + " / " + bytes(t.bytes_total)), " · ",
      el("span", "rate", bytes(t.rate_bytes_per_sec) + "/s"), " · ", el("span", "eta", eta));
    row.append(name, track, nums);
    box.append(row);
  }
}

function onProgress(p) {
  state.transfers.set(p.backup_id, Object.assign({ seen: Date.now() }, p));
  if (p.done) setTimeout(() => { state.transfers.delete(p.backup_id); renderTransfers(); }, 8000);
  renderTransfers();
}

// ---- restore windows ----
async function loadWindows() {
  const ids = [...state.services.values()].filter((s) => s.state !== "DELETED").map((s) => s.id);
  await Promise.all(ids.map(async (id) => {
    try { state.windows.set(id, await api("GET", "/api/services/" + encodeURIComponent(id) + "/window")); }
    catch (e) { state.windows.delete(id); }
  }));
  renderWindows();
}

function renderWindows() {
  const box = $("#windows");
  box.replaceChildren();
  const NS = "http://www.w3.org/2000/svg";
  for (const [id, w] of state.windows) {
    const s = state.services.get(id);
    if (!s) continue;
    const row = el("div", "window"); row.dataset.service = id;
    row.append(el("div", "mono", s.source_instance_id + " → " + s.target_region));
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 1000 34"); svg.setAttribute("preserveAspectRatio", "none");
    const text = (x, anchor, t) => {
      const e = document.createElementNS(NS, "text");
      e.setAttribute("x", x); e.setAttribute("y", 32); e.setAttribute("text-anchor", anchor);
      e.setAttribute("class", "tl-text"); e.textContent = t; svg.append(e);
    };
    if (w.earliest_ms == null || w.latest_ms == null) {
      text(500, "middle", "nothing restorable yet");
    } else {
      // A gap at the end resumes after the latest point: the axis covers it.
      const end = Math.max(w.latest_ms, ...w.gaps.map((g) => g.resumes_at_ms || 0));
      const span = Math.max(1, end - w.earliest_ms);
      const x = (ms) => 1000 * (ms - w.earliest_ms) / span;
      const rect = (x0, x1, cls, title) => {
        const r = document.createElementNS(NS, "rect");
        r.setAttribute("x", x0); r.setAttribute("y", 4);
        r.setAttribute("width", Math.max(2, x1 - x0)); r.setAttribute("height", 14);
        r.setAttribute("class", cls);
        if (title) { const t = document.createElementNS(NS, "title"); t.textContent = title; r.append(t); }
        svg.append(r);
      };
      rect(0, x(w.latest_ms), "tl-bar", time(w.earliest_ms) + " → " + time(w.latest_ms));
      for (const g of w.gaps) rect(x(g.after_ms), g.resumes_at_ms == null ? 1000 : x(g.resumes_at_ms), "tl-gap", g.reason);
      text(0, "start", time(w.earliest_ms)); text(x(w.latest_ms), "end", time(w.latest_ms));
    }
    row.append(svg);
    if (w.gaps.length) {
      const ul = el("ul");
      for (const g of w.gaps) ul.append(el("li", "", time(g.after_ms) + " → " + time(g.resumes_at_ms) + ": " + g.reason));
      row.append(ul);
    }
    box.append(row);
  }
  if (!box.children.length) box.append(el("p", "hint", "No service yet."));
}

// ---- data ----
async function refresh() {
  try {
    const r = await api("GET", "/api/services");
    state.services = new Map(r.services.map((s) => [s.id, s]));
    showError("#app-error", "");
    renderServices();
    renderTransfers();
    await loadWindows();
  } catch (e) { if (e.status !== 401) showError("#app-error", "Cannot load services: " + e.message); }
}
function refreshSoon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 300); }

async function follow() {
  if (feed) feed.abort();
  const ctl = new AbortController(); feed = ctl;
  const live = $("#live");
  while (!ctl.signal.aborted && token()) {
    try {
      const r = await fetch("/api/events", { headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream" }, signal: ctl.signal });
      if (!r.ok) throw new Error("events: " + r.status);
      const reader = r.body.getReader(); const dec = new TextDecoder(); let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) { dispatch(buf.slice(0, cut)); buf = buf.slice(cut + 2); }
      }
    } catch (e) { if (ctl.signal.aborted) return; }
    live.className = "live off"; live.textContent = "reconnecting";
    await new Promise((ok) => setTimeout(ok, 2000));
  }
}

function dispatch(block) {
  let name = "message"; const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return;
  const e = JSON.parse(data.join("\n"));
  if (name === "ready") { $("#live").className = "live on"; $("#live").textContent = "live"; refreshSoon(); }
  else if (name === "progress") onProgress(e);
  else if (name === "state" || name === "synced" || name === "failed") refreshSoon();
}

// ---- dialogs ----
function fillRegions(sel, preferOther) {
  sel.replaceChildren(...state.regions.map((r) => { const o = el("option", "", r.display_name + " (" + r.id + ")"); o.value = r.id; return o; }));
  if (preferOther && state.regions.length > 1) sel.selectedIndex = 1;
}
async function loadInstances() {
  const list = $("#c-instances"); list.replaceChildren();
  try {
    const r = await api("GET", "/api/instances/" + $("#c-engine").value + "/" + encodeURIComponent($("#c-source").value));
    for (const id of r.instances) { const o = el("option"); o.value = id; list.append(o); }
  } catch (e) { /* the field still takes a typed id */ }
}
async function openCreate() {
  showError("#create-error", "");
  if (!state.regions.length) state.regions = (await api("GET", "/api/regions")).regions;
  fillRegions($("#c-source"), false); fillRegions($("#c-target"), true);
  await loadInstances();
  $("#create-dialog").showModal();
}
async function submitCreate(ev) {
  ev.preventDefault();
  const days = $("#c-retention").value;
  const body = { engine: $("#c-engine").value, source_region: $("#c-source").value, instance_id: $("#c-instance").value.trim(),
    target_region: $("#c-target").value, request_id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) };
  if (days) body.retention_days = Number(days);
  try { await api("POST", "/api/services", body); $("#create-dialog").close(); refresh(); }
  catch (e) { showError("#create-error", e.message); }
}
let deleting = null;
function askDelete(s) {
  deleting = s; showError("#delete-error", "");
  $("#d-name").textContent = s.source_instance_id + " → " + s.target_region + " (" + s.id + ")";
  $("#delete-dialog").showModal();
}
async function confirmDelete(ev) {
  ev.preventDefault();
  try { await api("DELETE", "/api/services/" + encodeURIComponent(deleting.id)); $("#delete-dialog").close(); refresh(); }
  catch (e) { showError("#delete-error", e.message); }
}

// ---- sign in / out ----
async function signIn(t) {
  sessionStorage.setItem(KEY, t);
  try {
    const me = await api("GET", "/api/me");
    $("#tenant").textContent = me.tenant;
    $("#signin-panel").hidden = true; $("#app").hidden = false; $("#who").hidden = false;
    await refresh();
    follow();
  } catch (e) { signOut(e.status === 401 ? "This token is not accepted." : "Cannot sign in: " + e.message); }
}
function signOut(msg) {
  sessionStorage.removeItem(KEY);
  if (feed) feed.abort();
  state.services.clear(); state.transfers.clear(); state.windows.clear();
  $("#app").hidden = true; $("#who").hidden = true; $("#signin-panel").hidden = false;
  showError("#signin-error", msg || "");
}

document.addEventListener("DOMContentLoaded", () => {
  $("#signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#token").value.trim()); $("#token").value = ""; });
  $("#signout").addEventListener("click", () => signOut());
  $("#new-service").addEventListener("click", () => openCreate().catch((e) => showError("#app-error", e.message)));
  $("#c-engine").addEventListener("change", loadInstances);
  $("#c-source").addEventListener("change", loadInstances);
  $("#c-cancel").addEventListener("click", () => $("#create-dialog").close());
  $("#create-form").addEventListener("submit", submitCreate);
  $("#d-cancel").addEventListener("click", () => $("#delete-dialog").close());
  $("#delete-form").addEventListener("submit", confirmDelete);
  // Lag grows between events: re-read the table now and then.
  setInterval(() => { if (token()) refresh(); }, 15000);
  if (token()) signIn(token()); else signOut();
});
