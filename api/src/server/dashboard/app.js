// faultline dashboard, part 5 of 5: link, favourites, wall mode, and start-up.

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
