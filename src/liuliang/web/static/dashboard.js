// liuliang dashboard: reads the filters (and the URL), fetches every view from the JSON API, draws each one as its
// answer arrives, and keeps the filters in the URL so a view can be shared. No build step, no dependencies but
// Plotly (served by the dashboard itself).
(() => {
  "use strict";
  const KNOBS = ["start", "end", "breakdown", "period", "criterion", "preset", "lang"];
  const TOKEN_KEY = "liuliang-token";
  const LABELS = JSON.parse(document.getElementById("labels").textContent);
  const form = document.getElementById("filters");
  const spinner = document.getElementById("spinner");
  const sections = Array.from(document.querySelectorAll("section.view"));
  let pending = 0;
  let generation = 0;
  let controller = null;

  // A token opened with ?token= moves to session storage and out of the address bar (and out of shared links).
  function takeToken() {
    const url = new URL(window.location.href);
    const given = url.searchParams.get("token");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given);
      url.searchParams.delete("token");
      history.replaceState(null, "", url);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }
  const token = takeToken();

  function setFromUrl() {
    const params = new URLSearchParams(window.location.search);
    for (const name of KNOBS) {
      if (params.has(name) && form.elements[name]) form.elements[name].value = params.get(name);
    }
  }

  // Empty dates and preset mean "the default"; an empty breakdown means "no split", so it is always sent.
  function knobs() {
    const params = new URLSearchParams();
    for (const name of KNOBS) {
      const value = form.elements[name].value;
      if (value !== "" || name === "breakdown") params.set(name, value);
    }
    return params;
  }

  function busy(delta) {
    pending += delta;
    spinner.hidden = pending === 0;
    document.body.classList.toggle("busy", pending > 0);
  }

  function relabel(lang) {
    const words = LABELS[lang] || LABELS.en;
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = words.heading;
    document.querySelectorAll("[data-label]").forEach((el) => {
      const word = words[el.dataset.label];
      if (word !== undefined) el.textContent = word;
    });
    for (const section of sections) {
      const names = LABELS.views[section.dataset.view];
      if (names && !section.dataset.loaded) section.querySelector("h2").textContent = names[lang === "zh" ? 1 : 0];
    }
  }

  function setNote(section, text) {
    let note = section.querySelector("p.note");
    if (!text) {
      if (note) note.remove();
      return;
    }
    if (!note) {
      note = document.createElement("p");
      note.className = "note";
      section.querySelector("p.reading").after(note);
    }
    note.textContent = text;
  }

  function formatCell(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") {
      if (Number.isInteger(value)) return value.toLocaleString("en-US");
      if (Math.abs(value) >= 1000) return value.toLocaleString("en-US", { maximumFractionDigits: 1 });
      return String(Number(value.toPrecision(4)));
    }
    return String(value);
  }

  function renderTable(table, columns, rows, total) {
    table.replaceChildren();
    if (!columns.length) return;
    const head = table.createTHead().insertRow();
    for (const col of columns) {
      const th = document.createElement("th");
      th.textContent = col;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      row.forEach((value) => {
        const td = tr.insertCell();
        td.textContent = formatCell(value);
        if (typeof value === "number") td.title = String(value);
      });
    }
    if (total > rows.length) {
      const words = LABELS[form.elements.lang.value] || LABELS.en;
      table.createCaption().textContent = words.rows_shown.replace("{n}", rows.length).replace("{total}", total);
    }
  }

  async function render(section, view) {
    section.dataset.loaded = "1";
    section.querySelector("h2").textContent = view.title;
    section.querySelector("p.reading").textContent = view.reading;
    setNote(section, view.note);
    const chart = section.querySelector("div.chart");
    if (view.figure) {
      chart.hidden = false;
      const layout = Object.assign({}, view.figure.layout || {}, { autosize: true });
      await Plotly.react(chart, view.figure.data || [], layout, { responsive: true, displaylogo: false });
    } else {
      Plotly.purge(chart);
      chart.hidden = true;
    }
    renderTable(section.querySelector("table.numbers"), view.columns || [], view.rows || [], view.total_rows || 0);
    document.getElementById("version").textContent = view.workspace_version;
  }

  function renderFailure(section, message) {
    const words = LABELS[form.elements.lang.value] || LABELS.en;
    section.querySelector("p.reading").textContent = words.failed;
    setNote(section, message);
    const chart = section.querySelector("div.chart");
    Plotly.purge(chart);
    chart.hidden = true;
    section.querySelector("table.numbers").replaceChildren();
  }

  async function load(section, params, gen, signal) {
    busy(+1);
    section.classList.add("loading");
    try {
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const url = `/api/views/${encodeURIComponent(section.dataset.view)}?${params}`;
      const response = await fetch(url, { headers, signal });
      const data = await response.json();
      if (gen !== generation) return;
      if (response.ok) await render(section, data);
      else renderFailure(section, typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
    } catch (err) {
      if (err.name !== "AbortError" && gen === generation) renderFailure(section, String(err));
    } finally {
      section.classList.remove("loading");
      busy(-1);
    }
  }

  // Every filter change re-fetches every view; answers to an older filter set are dropped (and their requests
  // aborted), so a slow old answer can never overwrite a newer one.
  async function refresh() {
    const gen = ++generation;
    if (controller) controller.abort();
    controller = new AbortController();
    document.body.dataset.ready = "0";
    const params = knobs();
    history.replaceState(null, "", `?${params}`);
    relabel(form.elements.lang.value);
    await Promise.all(sections.map((section) => load(section, params, gen, controller.signal)));
    if (gen === generation) document.body.dataset.ready = "1";
  }

  // A preset brings its tool's criterion (Mixpanel counts "on or after"); the criterion control can still override.
  form.elements.preset.addEventListener("change", () => {
    const chosen = form.elements.preset.selectedOptions[0];
    if (chosen && chosen.dataset.criterion) form.elements.criterion.value = chosen.dataset.criterion;
  });
  form.addEventListener("change", refresh);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  document.addEventListener("DOMContentLoaded", () => {
    setFromUrl();
    refresh();
  });
})();
