// faultline dashboard: KFL box (error positions, fixes, field completion), time range, live
// entries table (sortable, pausable), detail pane, errors chart, top failing services,
// favourites, wall mode. Plain JavaScript over the HTTP API; no build step.
"use strict";

const MAX_ROWS = 10000;
const INITIAL_LIMIT = 1000;
const CHECK_DELAY_MS = 250;
const CHART_REFRESH_MS = 30000;
const MIN_CHART_SLOTS = 12;
const FAVOURITES_KEY = "faultline.favourites";
const KINDS = ["tcp", "timeout", "loss", "icmp", "http", "dns"];
const MAX_SUGGESTIONS = 12;
const KFL_FIELDS = (() => {
  try {
    return JSON.parse(document.getElementById("kfl-fields").textContent);
  } catch (_) {
    return [];
  }
})();

const $ = (id) => document.getElementById(id);
const pageParams = new URLSearchParams(location.search);
const token = pageParams.get("access_token");

const state = {
  query: pageParams.get("q") || "",
  from: pageParams.get("from") || "",
  to: pageParams.get("to") || "",
  rows: [],        // newest first
  view: [],        // what the table shows: `rows`, or `rows` sorted by a column
  sort: null,      // { col, dir } (dir 1 ascending, -1 descending), or null: newest first
  paused: false,
  pending: [],     // live entries not yet shown, oldest first
  frame: 0,        // requested animation frame, 0 when none
  live: null,      // EventSource
  selected: null,  // id of the entry in the detail pane
  lagged: 0,
  generation: 0,   // bumps on every new query, so late answers to old ones are dropped
};

// ---- API ----------------------------------------------------------------------------------

function apiUrl(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  return url;
}

async function api(path, params, init) {
  const headers = Object.assign({ Accept: "application/json" }, (init && init.headers) || {});
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(apiUrl(path, params), Object.assign({}, init, { headers }));
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(body.message || res.statusText);
    err.body = body;
    throw err;
  }
  return body;
}

// ---- helpers ------------------------------------------------------------------------------

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function endpoint(ip, port) {
  if (ip === null || ip === undefined) return "";
  const host = String(ip).includes(":") ? "[" + ip + "]" : ip;
  return port === null || port === undefined ? String(ip) : host + ":" + port;
}

function formatTime(ts) {
  if (typeof ts === "number") return new Date(ts / 1000).toISOString();
  return ts === null || ts === undefined ? "" : String(ts).replace("T", " ");
}

function kindClass(kind) {
  return KINDS.includes(kind) ? "kind k-" + kind : "kind";
}

function setStatus(text) {
  $("status").textContent = text;
}

// ---- KFL box ------------------------------------------------------------------------------

let checkTimer = 0;
let checkSeq = 0;

function showKflError(source, err) {
  const box = $("kfl-error");
  const input = $("kfl");
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    input.classList.remove("invalid");
    showFixes(source, null);
    return;
  }
  input.classList.add("invalid");
  const pos = err.position;
  let text = err.message || "invalid KFL";
  if (pos && pos.line === 1) {
    const chars = Array.from(source.slice(0, pos.start)).length;
    const width = Math.max(1, Array.from(source.slice(pos.start, pos.end)).length);
    text = source + "\n" + " ".repeat(chars) + "^".repeat(width) + " " + text;
    input.setSelectionRange(pos.start, Math.max(pos.start, pos.end));
  } else if (pos) {
    text = "line " + pos.line + ", column " + pos.column + ": " + text;
  }
  if (err.help) text += "\nhelp: " + err.help;
  box.textContent = text;
  box.hidden = false;
  showFixes(source, err);
}

// "did you mean `x`?": a button that puts `x` in place of the faulty span and applies it.
function showFixes(source, err) {
  const fix = $("kfl-fix");
  const pos = err && err.position;
  const names = err && err.help ? Array.from(err.help.matchAll(/`([^`]+)`/g), (m) => m[1]) : [];
  if (!pos || pos.line !== 1 || !names.length) {
    fix.hidden = true;
    fix.replaceChildren();
    return;
  }
  fix.replaceChildren(el("span", {}, "fix:"), ...names.map((name) => {
    const b = el("button", { type: "button", class: "fix" }, name);
    b.addEventListener("click", () =>
      applyQuery(source.slice(0, pos.start) + name + source.slice(pos.end)));
    return b;
  }));
  fix.hidden = false;
}

async function checkKfl(source) {
  const seq = ++checkSeq;
  if (source.trim() === "") {
    showKflError(source, null);
    return true;
  }
  try {
    const res = await api("/api/kfl/check", null, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ q: source }),
    });
    if (seq === checkSeq) showKflError(source, null);
    if (seq === checkSeq && res.warnings && res.warnings.length) {
      setStatus("warning: " + res.warnings.map((w) => w.message).join("; "));
    }
    return true;
  } catch (e) {
    if (seq === checkSeq) showKflError(source, e.body || { message: e.message });
    return false;
  }
}

function onKflInput() {
  clearTimeout(checkTimer);
  const source = $("kfl").value;
  checkTimer = setTimeout(() => checkKfl(source), CHECK_DELAY_MS);
}

// ---- field completion: the dotted word before the cursor, against the schema's KFL paths --

const suggest = { items: [], active: 0, start: 0, end: 0 };

function wordAtCursor(input) {
  const end = input.selectionStart === null ? input.value.length : input.selectionStart;
  const before = input.value.slice(0, end);
  const m = before.match(/[A-Za-z_][A-Za-z0-9_.]*$/);
  return m ? { word: m[0], start: end - m[0].length, end } : null;
}

function updateSuggestions() {
  const input = $("kfl");
  const at = wordAtCursor(input);
  const box = $("kfl-suggest");
  suggest.items = at
    ? KFL_FIELDS.filter((f) => f.path.startsWith(at.word) && f.path !== at.word).slice(0, MAX_SUGGESTIONS)
    : [];
  if (!suggest.items.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  suggest.active = 0;
  suggest.start = at.start;
  suggest.end = at.end;
  box.replaceChildren(...suggest.items.map((f, i) => {
    const item = el("div", { role: "option", "data-i": String(i) }, f.path);
    item.appendChild(el("small", {}, f.doc || ""));
    item.addEventListener("mousedown", (ev) => {
      ev.preventDefault();
      completeWith(i);
    });
    return item;
  }));
  markActive();
  box.hidden = false;
}

function markActive() {
  Array.from($("kfl-suggest").children).forEach((c, i) => c.classList.toggle("active", i === suggest.active));
}

function hideSuggestions() {
  suggest.items = [];
  $("kfl-suggest").hidden = true;
}

function completeWith(i) {
  const f = suggest.items[i];
  if (!f) return;
  const input = $("kfl");
  const v = input.value;
  input.value = v.slice(0, suggest.start) + f.path + v.slice(suggest.end);
  const caret = suggest.start + f.path.length;
  input.setSelectionRange(caret, caret);
  hideSuggestions();
  onKflInput();
}

function onKflKey(ev) {
  if (!suggest.items.length) return;
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    const n = suggest.items.length;
    suggest.active = (suggest.active + (ev.key === "ArrowDown" ? 1 : n - 1)) % n;
    markActive();
    ev.preventDefault();
  } else if (ev.key === "Tab" || ev.key === "Enter") {
    ev.preventDefault();
    completeWith(suggest.active);
  } else if (ev.key === "Escape") {
    hideSuggestions();
  }
}

// ---- query, time range, URL -----------------------------------------------------------------

function syncUrl() {
  const url = new URL(location.href);
  for (const [k, v] of [["q", state.query], ["from", state.from], ["to", state.to]]) {
    if (v) url.searchParams.set(k, v);
    else url.searchParams.delete(k);
  }
  history.replaceState(null, "", url);
}

async function applyQuery(source) {
  clearTimeout(checkTimer);
  hideSuggestions();
  $("kfl").value = source;
  if (!(await checkKfl(source))) return;
  state.query = source;
  syncUrl();
  await loadEntries();
}

// A `datetime-local` value (read as UTC) as RFC 3339, or "".
function utcInput(v) {
  return v ? (v.length === 16 ? v + ":00" : v) + "Z" : "";
}

function showRange() {
  const relative = state.from.startsWith("now-") && !state.to;
  const custom = !!(state.from || state.to) && !relative;
  const select = $("range");
  if (relative && !Array.from(select.options).some((o) => o.value === state.from)) {
    select.add(new Option("since " + state.from, state.from));
  }
  select.value = custom ? "custom" : state.from;
  $("custom-range").hidden = !custom;
  if (custom) {
    $("from").value = state.from.replace(/Z$/, "").slice(0, 19);
    $("to").value = state.to.replace(/Z$/, "").slice(0, 19);
  }
}

function onRangeChange() {
  const v = $("range").value;
  if (v === "custom") {
    $("custom-range").hidden = false;
    state.from = utcInput($("from").value);
    state.to = utcInput($("to").value);
  } else {
    $("custom-range").hidden = true;
    state.from = v;
    state.to = "";
  }
  syncUrl();
  loadEntries();
  loadChart();
}

// ---- entries table (virtualised: only the visible rows exist in the DOM) --------------------

function rowHeight() {
  return parseFloat(getComputedStyle(document.body).getPropertyValue("--row-h")) || 24;
}

function rowCells(entry) {
  const error = entry.error_type || entry.kind || "";
  return [
    [formatTime(entry.timestamp), ""],
    [entry.protocol_abbr || entry.protocol_name || entry.transport || "", ""],
    [endpoint(entry.src_ip, entry.src_port), ""],
    [endpoint(entry.dst_ip, entry.dst_port), ""],
    [error, kindClass(entry.kind)],
    [entry.summary || entry.error_msg || "", ""],
  ];
}

function fillRow(row, entry) {
  row.dataset.id = entry.id;
  row.classList.toggle("selected", String(entry.id) === String(state.selected));
  const cells = rowCells(entry);
  for (let i = 0; i < cells.length; i++) {
    const span = row.children[i];
    if (span.textContent !== cells[i][0]) span.textContent = cells[i][0];
    span.title = cells[i][0];
    span.className = cells[i][1];
  }
}

function newRow() {
  const row = el("div", { class: "row" });
  for (let i = 0; i < 6; i++) row.appendChild(el("span"));
  return row;
}

function render() {
  const viewport = $("viewport");
  const h = rowHeight();
  const rows = state.view;
  $("spacer").style.height = rows.length * h + "px";
  const first = Math.max(0, Math.floor(viewport.scrollTop / h) - 5);
  const count = Math.min(rows.length - first, Math.ceil(viewport.clientHeight / h) + 10);
  const box = $("rows");
  box.style.transform = "translateY(" + first * h + "px)";
  while (box.children.length < count) box.appendChild(newRow());
  while (box.children.length > Math.max(0, count)) box.lastChild.remove();
  for (let i = 0; i < count; i++) fillRow(box.children[i], rows[first + i]);
}

// Sort keys are computed once per row and column (a row's cells never change).
let sortKeys = new WeakMap();

function sortKey(entry, col) {
  let key = sortKeys.get(entry);
  if (key === undefined) {
    const cell = rowCells(entry)[col][0];
    // Ports and numbers compare as numbers, the rest as text.
    const n = col === 2 || col === 3 ? Number(entry[col === 2 ? "src_port" : "dst_port"]) : NaN;
    key = Number.isFinite(n) ? [cell.replace(/:\d+$/, ""), n] : [cell, 0];
    sortKeys.set(entry, key);
  }
  return key;
}

function compareRows(a, b) {
  const { col, dir } = state.sort;
  const ka = sortKey(a, col), kb = sortKey(b, col);
  if (ka[0] !== kb[0]) return ka[0] < kb[0] ? -dir : dir;
  return ka[1] === kb[1] ? 0 : ka[1] < kb[1] ? -dir : dir;
}

// The view after `rows` changed: `fresh` rows were added, `dropped` ones left. A sorted view
// stays sorted by appending and sorting again, which is close to linear on nearly sorted data.
function updateView(fresh, dropped) {
  if (!state.sort) {
    state.view = state.rows;
    return;
  }
  let view = state.view;
  if (dropped && dropped.length) {
    const gone = new Set(dropped);
    view = view.filter((r) => !gone.has(r));
  }
  state.view = (fresh ? view.concat(fresh) : state.rows.slice()).sort(compareRows);
}

function setSort(col) {
  const s = state.sort;
  // ascending, then descending, then back to newest first
  state.sort = !s || s.col !== col ? { col, dir: 1 } : s.dir === 1 ? { col, dir: -1 } : null;
  sortKeys = new WeakMap();
  updateView(null, null);
  for (const span of $("head").children) {
    const on = state.sort && String(state.sort.col) === span.dataset.col;
    span.classList.toggle("asc", !!on && state.sort.dir === 1);
    span.classList.toggle("desc", !!on && state.sort.dir === -1);
  }
  $("viewport").scrollTop = 0;
  scheduleRender();
}

function scheduleRender() {
  if (!state.frame) {
    state.frame = requestAnimationFrame(() => {
      state.frame = 0;
      flushPending();
      render();
    });
  }
}

function flushPending() {
  if (!state.pending.length || state.paused) return;
  const fresh = state.pending.reverse().slice(0, MAX_ROWS);
  state.pending = [];
  const viewport = $("viewport");
  const keepPlace = viewport.scrollTop > 0 && !state.sort;
  state.rows = fresh.concat(state.rows);
  const dropped = state.rows.length > MAX_ROWS ? state.rows.splice(MAX_ROWS) : [];
  updateView(fresh, dropped);
  // A reader scrolled down keeps looking at the same rows while new ones arrive on top.
  if (keepPlace) viewport.scrollTop += fresh.length * rowHeight();
  updateCount();
}

function updateCount() {
  let text = state.rows.length + " entries" + (state.live ? " · live" : "");
  if (state.paused) text += " · paused, " + state.pending.length + " waiting";
  if (state.lagged) text += " · " + state.lagged + " dropped (slow client)";
  setStatus(text);
}

function togglePause() {
  state.paused = !state.paused;
  $("pause").setAttribute("aria-pressed", String(state.paused));
  $("pause").textContent = state.paused ? "Resume" : "Pause";
  updateCount();
  scheduleRender();
}

async function loadEntries() {
  const generation = ++state.generation;
  stopLive();
  state.pending = [];
  state.lagged = 0;
  setStatus("loading…");
  try {
    const res = await api("/api/entries", {
      q: state.query,
      from: state.from,
      to: state.to,
      limit: INITIAL_LIMIT,
      order: "desc",
      format: "json",
    });
    if (generation !== state.generation) return;
    state.rows = res.rows || [];
    updateView(null, null);
    $("viewport").scrollTop = 0;
    updateCount();
    scheduleRender();
    // A range that ends at a fixed time gets no new entries.
    if (!state.to) startLive(generation);
  } catch (e) {
    if (generation !== state.generation) return;
    if (e.body && e.body.error === "invalid_kfl") showKflError(state.query, e.body);
    setStatus("error: " + e.message);
  }
}

// ---- live updates -------------------------------------------------------------------------

function stopLive() {
  if (state.live) state.live.close();
  state.live = null;
}

function startLive(generation) {
  const es = new EventSource(apiUrl("/api/live", { q: state.query, access_token: token }));
  state.live = es;
  es.addEventListener("ready", () => updateCount());
  es.addEventListener("entry", (ev) => {
    if (generation !== state.generation) return;
    try {
      state.pending.push(JSON.parse(ev.data));
    } catch (_) {
      return;
    }
    if (state.pending.length > MAX_ROWS) state.pending.splice(0, state.pending.length - MAX_ROWS);
    if (state.paused) updateCount();
    else scheduleRender();
  });
  es.addEventListener("lagged", (ev) => {
    try {
      state.lagged += JSON.parse(ev.data).dropped_rows || 0;
    } catch (_) {
      return;
    }
    updateCount();
  });
  es.addEventListener("error", (ev) => {
    // A server-sent `error` event carries data and ends the stream; a transport error does not.
    if (ev.data) {
      es.close();
      state.live = null;
      setStatus("live stream failed: " + ev.data);
    }
  });
}

// ---- detail pane --------------------------------------------------------------------------

function fieldsTable(obj) {
  const table = el("table");
  for (const [k, v] of Object.entries(obj || {})) {
    if (v === null || v === undefined || v === "") continue;
    const tr = el("tr");
    tr.appendChild(el("td", {}, k));
    tr.appendChild(el("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v)));
    table.appendChild(tr);
  }
  return table;
}

async function showDetail(id) {
  state.selected = id;
  render();
  const body = $("detail-body");
  body.replaceChildren(el("p", {}, "loading…"));
  $("detail").hidden = false;
  try {
    const res = await api("/api/entries/" + encodeURIComponent(id));
    if (state.selected !== id) return;
    const entry = res.entry || {};
    const parts = [el("h3", {}, "entry " + id)];
    if (entry.error_reason || entry.error_msg) {
      parts.push(el("div", { class: "reason" }, entry.error_reason || entry.error_msg));
    }
    parts.push(fieldsTable(entry));
    if (res.flow) {
      const flowHead = el("h3", {}, "flow " + (res.flow.flow_id || ""));
      parts.push(flowHead);
      if (res.flow.flow_id) {
        const b = el("button", { type: "button" }, "show this flow's entries");
        b.addEventListener("click", () => applyQuery("flow_id == " + res.flow.flow_id));
        parts.push(b);
        if (res.pcap) {
          const pcap = apiUrl("/api/pcap", { q: "flow_id == " + res.flow.flow_id, access_token: token });
          parts.push(el("a", { class: "button", id: "pcap-link", href: pcap.pathname + pcap.search,
            download: "flow-" + res.flow.flow_id + ".pcap" }, "download pcap of the flow"));
        } else {
          parts.push(el("span", { class: "muted", id: "pcap-off" }, "this server records no packets (--no-record)"));
        }
      }
      parts.push(fieldsTable(res.flow));
    }
    body.replaceChildren(...parts);
  } catch (e) {
    body.replaceChildren(el("p", {}, "error: " + e.message));
  }
}

function closeDetail() {
  state.selected = null;
  $("detail").hidden = true;
  render();
}

// ---- errors-over-time chart (inline SVG, stacked bars by kind) ------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// Where each bucket goes: its slot index from `from`, and how many slots the range holds.
function chartSlots(summary) {
  const buckets = summary.buckets || [];
  const width = (summary.bucket_seconds || 60) * 1000;
  const from = Date.parse(summary.from);
  const to = Date.parse(summary.to);
  const index = buckets.map((b, i) => {
    const t = Date.parse(b.start);
    return Number.isFinite(t) && Number.isFinite(from) ? Math.floor((t - from) / width) : i;
  });
  const span = Number.isFinite(to - from) ? Math.ceil((to - from) / width) : 0;
  return { index, count: Math.max(MIN_CHART_SLOTS, span, ...index.map((i) => i + 1)) };
}

function kindColour(kind) {
  return "var(--k-" + (KINDS.includes(kind) ? kind : "other") + ")";
}

function drawChart(summary) {
  const buckets = summary.buckets || [];
  const W = 1000, H = 100;
  const root = svg("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img" });
  const totals = buckets.map((b) => Object.values(b.counts || {}).reduce((a, n) => a + n, 0));
  const max = Math.max(1, ...totals);
  const slots = chartSlots(summary);
  const slot = W / slots.count;
  buckets.forEach((b, i) => {
    let y = H;
    for (const [kind, n] of Object.entries(b.counts || {})) {
      const h = (n / max) * H;
      y -= h;
      const rect = svg("rect", {
        x: slots.index[i] * slot + 1, y: y, width: Math.max(1, slot - 2), height: h,
        fill: kindColour(kind),
      });
      rect.appendChild(svg("title", {})).textContent = b.start + " " + kind + ": " + n;
      root.appendChild(rect);
    }
  });
  $("chart").replaceChildren(root);
  const range = buckets.length
    ? formatTime(summary.from) + " – " + formatTime(summary.to) + " · peak " + max + " per " +
      (summary.bucket_seconds || "?") + " s"
    : "no errors";
  const legend = $("legend");
  legend.replaceChildren(el("span", {}, range), ...Object.entries(summary.totals || {}).map(([kind, n]) => {
    const item = el("span");
    const swatch = el("i");
    swatch.style.background = kindColour(kind);
    item.append(swatch, kind + " " + n);
    return item;
  }));
}

function serviceName(s) {
  return s.service_name || s.service || endpoint(s.service_ip, s.service_port) || "?";
}

// Top failing services: errors per service, with the share of its flows that failed.
function drawServices(summary) {
  const services = (summary.services || []).slice(0, 10);
  const max = Math.max(1, ...services.map((s) => s.errors || 0));
  $("services").replaceChildren(el("h4", {}, "top failing services"), ...services.map((s) => {
    const row = el("div", { class: "svc", title: (s.transport || "") + " " + endpoint(s.service_ip, s.service_port) });
    const bar = el("span", { class: "bar" });
    bar.style.width = ((s.errors || 0) / max) * 100 + "%";
    const rate = typeof s.error_rate === "number" ? " " + Math.round(s.error_rate * 100) + "%" : "";
    const track = el("span");
    track.appendChild(bar);
    row.append(el("span", {}, serviceName(s)), track, el("span", {}, (s.errors || 0) + rate));
    return row;
  }));
}

async function loadChart() {
  try {
    // Only what the page draws: the top lists are most of a summary's cost on a large store.
    const summary = await api("/api/errors/summary", {
      from: state.from, to: state.to, parts: "buckets,services",
    });
    drawChart(summary);
    drawServices(summary);
  } catch (e) {
    $("legend").textContent = "summary unavailable: " + e.message;
  }
}

// ---- link, favourites, wall mode ----------------------------------------------------------

function shareLink() {
  const url = new URL(location.href);
  url.searchParams.delete("access_token"); // never hand the token on with a link
  return url.toString();
}

async function copyLink() {
  const link = shareLink();
  try {
    await navigator.clipboard.writeText(link);
    setStatus("link copied");
  } catch (_) {
    window.prompt("Copy this link", link);
  }
}

function favourites() {
  try {
    const list = JSON.parse(localStorage.getItem(FAVOURITES_KEY) || "[]");
    return Array.isArray(list) ? list.filter((q) => typeof q === "string") : [];
  } catch (_) {
    return [];
  }
}

function saveFavourites(list) {
  localStorage.setItem(FAVOURITES_KEY, JSON.stringify(list));
  renderFavourites();
}

function renderFavourites() {
  $("favourites").replaceChildren(...favourites().map((q) => {
    const chip = el("span", { class: "fav" });
    const link = el("a", { title: "Apply" }, q || "(everything)");
    link.addEventListener("click", () => applyQuery(q));
    const remove = el("button", { type: "button", title: "Remove" }, "×");
    remove.addEventListener("click", () => saveFavourites(favourites().filter((f) => f !== q)));
    chip.append(link, remove);
    return chip;
  }));
}

function addFavourite() {
  const q = $("kfl").value.trim();
  const list = favourites();
  if (!list.includes(q)) saveFavourites(list.concat([q]));
}

function toggleWall() {
  const on = !document.body.classList.contains("wall");
  document.body.classList.toggle("wall", on);
  if (on && document.documentElement.requestFullscreen) {
    document.documentElement.requestFullscreen().catch(() => {});
  } else if (!on && document.fullscreenElement) {
    document.exitFullscreen().catch(() => {});
  }
  scheduleRender();
}

// ---- start --------------------------------------------------------------------------------

function start() {
  $("kfl").value = state.query;
  $("kfl").addEventListener("input", () => {
    onKflInput();
    updateSuggestions();
  });
  $("kfl").addEventListener("keydown", onKflKey);
  $("kfl").addEventListener("blur", hideSuggestions);
  $("range").addEventListener("change", onRangeChange);
  $("from").addEventListener("change", onRangeChange);
  $("to").addEventListener("change", onRangeChange);
  $("pause").addEventListener("click", togglePause);
  $("head").addEventListener("click", (ev) => {
    const span = ev.target.closest("span[data-col]");
    if (span) setSort(Number(span.dataset.col));
  });
  $("kfl-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    applyQuery($("kfl").value);
  });
  $("fav-add").addEventListener("click", addFavourite);
  $("copy-link").addEventListener("click", copyLink);
  $("wall").addEventListener("click", toggleWall);
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("fullscreenchange", () => {
    if (!document.fullscreenElement) document.body.classList.remove("wall");
    scheduleRender();
  });
  $("viewport").addEventListener("scroll", scheduleRender, { passive: true });
  window.addEventListener("resize", scheduleRender);
  $("rows").addEventListener("click", (ev) => {
    const row = ev.target.closest(".row");
    if (row && row.dataset.id) showDetail(row.dataset.id);
  });
  if (pageParams.get("wall") === "1") document.body.classList.add("wall");
  showRange();
  renderFavourites();
  applyQuery(state.query);
  loadChart();
  setInterval(loadChart, CHART_REFRESH_MS);
}

start();
