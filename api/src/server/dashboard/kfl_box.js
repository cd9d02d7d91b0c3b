// faultline dashboard, part 2 of 5: the KFL box (error positions, fixes) and field completion.

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
