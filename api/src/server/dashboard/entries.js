// faultline dashboard, part 3 of 5: query, time range and URL; the virtualised entries table; live updates.

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
