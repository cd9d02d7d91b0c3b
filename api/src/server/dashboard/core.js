// faultline dashboard: KFL box (error positions, fixes, field completion), time range, live
// entries table (sortable, pausable), detail pane, errors chart, top failing services,
// favourites, wall mode. Plain JavaScript over the HTTP API; no build step.
// Part 1 of 5: constants, page state, the API and DOM helpers. The parts share one scope: they
// are concatenated in order into the page's single script (see dashboard.rs).
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
