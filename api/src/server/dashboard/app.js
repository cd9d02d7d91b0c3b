// faultline dashboard: KFL box, live entries table, detail pane, errors chart, favourites,
// wall mode. Plain JavaScript over the HTTP API; no build step.
"use strict";

const MAX_ROWS = 10000;
const INITIAL_LIMIT = 1000;
const CHECK_DELAY_MS = 250;
const CHART_REFRESH_MS = 30000;
const MIN_CHART_SLOTS = 12;
const FAVOURITES_KEY = "faultline.favourites";
const KINDS = ["tcp", "timeout", "loss", "icmp", "http", "dns"];

const $ = (id) => document.getElementById(id);
const pageParams = new URLSearchParams(location.search);
const token = pageParams.get("access_token");

const state = {
  query: pageParams.get("q") || "",
  rows: [],        // newest first
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

async function applyQuery(source) {
  clearTimeout(checkTimer);
  $("kfl").value = source;
  if (!(await checkKfl(source))) return;
  state.query = source;
  const url = new URL(location.href);
  if (source) url.searchParams.set("q", source);
  else url.searchParams.delete("q");
  history.replaceState(null, "", url);
  await loadEntries();
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
  $("spacer").style.height = state.rows.length * h + "px";
  const first = Math.max(0, Math.floor(viewport.scrollTop / h) - 5);
  const count = Math.min(state.rows.length - first, Math.ceil(viewport.clientHeight / h) + 10);
  const box = $("rows");
  box.style.transform = "translateY(" + first * h + "px)";
  while (box.children.length < count) box.appendChild(newRow());
  while (box.children.length > Math.max(0, count)) box.lastChild.remove();
  for (let i = 0; i < count; i++) fillRow(box.children[i], state.rows[first + i]);
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
  if (!state.pending.length) return;
  const fresh = state.pending.reverse();
  state.pending = [];
  const viewport = $("viewport");
  const keepPlace = viewport.scrollTop > 0;
  const added = Math.min(fresh.length, MAX_ROWS);
  state.rows = fresh.slice(0, MAX_ROWS).concat(state.rows);
  if (state.rows.length > MAX_ROWS) state.rows.length = MAX_ROWS;
  // A reader scrolled down keeps looking at the same rows while new ones arrive on top.
  if (keepPlace) viewport.scrollTop += added * rowHeight();
  updateCount();
}

function updateCount() {
  let text = state.rows.length + " entries" + (state.live ? " · live" : "");
  if (state.lagged) text += " · " + state.lagged + " dropped (slow client)";
  setStatus(text);
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
      limit: INITIAL_LIMIT,
      order: "desc",
      format: "json",
    });
    if (generation !== state.generation) return;
    state.rows = res.rows || [];
    $("viewport").scrollTop = 0;
    updateCount();
    scheduleRender();
    startLive(generation);
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
    scheduleRender();
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

async function loadChart() {
  try {
    drawChart(await api("/api/errors/summary"));
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
  $("kfl").addEventListener("input", onKflInput);
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
  renderFavourites();
  applyQuery(state.query);
  loadChart();
  setInterval(loadChart, CHART_REFRESH_MS);
}

start();
