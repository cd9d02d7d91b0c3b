// faultline dashboard, part 4 of 5: the detail pane, the errors-over-time chart, top failing services.

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
