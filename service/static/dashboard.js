"use strict";
(function () {
  const KEY = "credence.apiKey";
  const COLORS = ["#3558d1", "#2e8b57", "#8a4fd1", "#d9730d", "#0f8b8d", "#b8336a"];
  const charts = {};
  const $ = (id) => document.getElementById(id);
  const pct = (v) => (v === null || v === undefined ? "–" : v === 0 ? "0%" : (v * 100).toFixed(v < 0.1 ? 1 : 0) + "%");
  const groupName = (g) => (g === null ? "(none)" : g);
  let overdueCursor = null;

  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5b6477";

  // Draws each value next to its bar or point, so no legend or tooltip is needed to read it.
  const valueLabels = {
    id: "valueLabels",
    afterDatasetsDraw(chart, _args, options) {
      const format = options.format;
      if (!format) return;
      const ctx = chart.ctx;
      ctx.save();
      ctx.font = "600 11px " + Chart.defaults.font.family;
      ctx.fillStyle = "#1d2433";
      chart.data.datasets.forEach((dataset, i) => {
        const meta = chart.getDatasetMeta(i);
        if (meta.hidden) return;
        meta.data.forEach((element, j) => {
          const text = format(dataset.data[j], j, i);
          if (!text) return;
          const horizontal = chart.options.indexAxis === "y";
          ctx.textAlign = horizontal ? "left" : "center";
          ctx.textBaseline = horizontal ? "middle" : "bottom";
          if (options.inside && horizontal) {
            const mid = (element.x + element.base) / 2;
            ctx.textAlign = "center";
            ctx.fillStyle = "#fff";
            if (Math.abs(element.x - element.base) > 18) ctx.fillText(text, mid, element.y);
          } else {
            ctx.fillText(text, horizontal ? element.x + 4 : element.x, horizontal ? element.y : element.y - 4);
          }
        });
      });
      ctx.restore();
    },
  };
  Chart.register(valueLabels);

  function draw(id, canvas, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart(canvas, config);
    return charts[id];
  }

  function status(text, error) {
    $("status").textContent = text;
    $("status").className = error ? "error" : "";
  }

  async function api(path) {
    const key = sessionStorage.getItem(KEY);
    const response = await fetch(path, { headers: { Authorization: "Bearer " + key, Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(body.detail || body.title || response.statusText);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function renderCertified(report) {
    const box = $("certified");
    Object.keys(charts).filter((k) => k.startsWith("certified:")).forEach((k) => { charts[k].destroy(); delete charts[k]; });
    box.textContent = "";
    if (!report.levels.length || !report.groups.length) {
      box.innerHTML = '<p class="empty">No levels or learners yet.</p>';
      return;
    }
    const labels = report.groups.map((g) => groupName(g.group) + " (" + g.learners + ")");
    report.levels.forEach((level, i) => {
      const wrap = document.createElement("div");
      wrap.className = "chart";
      const canvas = document.createElement("canvas");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", "Certified share: " + level.name);
      canvas.dataset.level = level.id;
      wrap.appendChild(canvas);
      box.appendChild(wrap);
      const data = report.groups.map((g) => {
        const row = g.levels.find((x) => x.level === level.id);
        return row && row.share !== null ? row.share : 0;
      });
      const holders = report.groups.map((g) => (g.levels.find((x) => x.level === level.id) || {}).holders || 0);
      draw("certified:" + level.id, canvas, {
        type: "bar",
        data: { labels, datasets: [{ label: level.name, data, backgroundColor: COLORS[i % COLORS.length] }] },
        options: {
          maintainAspectRatio: false,
          layout: { padding: { top: 18 } },
          plugins: {
            title: { display: true, text: level.name + " (rank " + level.rank + ")", color: "#1d2433", font: { size: 13, weight: "600" }, padding: { bottom: 18 } },
            legend: { display: false },
            tooltip: { callbacks: { label: (c) => pct(c.raw) + " · " + holders[c.dataIndex] + " holders" } },
            valueLabels: { format: (v) => pct(v) },
          },
          scales: { y: { min: 0, max: 1, ticks: { callback: (v) => pct(v) } } },
        },
      });
    });
  }

  function renderExpiring(report) {
    const tbody = $("expiring").querySelector("tbody");
    tbody.textContent = "";
    report.levels.forEach((level) => {
      const sum = (field) => report.groups.reduce((n, g) => n + ((g.levels.find((x) => x.level === level.id) || {})[field] || 0), 0);
      const tr = document.createElement("tr");
      [level.name, sum("expiring_30"), sum("expiring_60"), sum("expiring_90"), sum("expired_not_renewed")].forEach((v, i) => {
        const td = document.createElement("td");
        td.textContent = String(v);
        if (i) td.className = "num";
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    if (!report.levels.length) tbody.innerHTML = '<tr><td colspan="5" class="empty">No levels.</td></tr>';
  }

  function renderCompletionRate(report) {
    const series = report.groups[0].months;
    draw("completion-rate", $("completion-rate"), {
      type: "line",
      data: {
        labels: series.map((m) => m.month),
        datasets: [{ label: "Completion rate", data: series.map((m) => m.rate), borderColor: "#3558d1",
                     backgroundColor: "#3558d1", pointRadius: 4, spanGaps: true, tension: 0.2 }],
      },
      options: {
        maintainAspectRatio: false,
        layout: { padding: { top: 18, left: 12, right: 16 } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (c) => {
            const m = series[c.dataIndex];
            return pct(m.rate) + " · " + m.learners_completing + " of " + m.learners_in_scope + " learners, " + m.completions + " completions";
          } } },
          valueLabels: { format: (v) => (v === null ? "" : pct(v)) },
        },
        scales: { y: { min: 0, suggestedMax: 0.5, ticks: { callback: (v) => pct(v) } } },
      },
    });
  }

  function renderCompliance(report) {
    $("total-compliant").textContent = report.totals.compliant;
    $("total-due").textContent = report.totals.due;
    $("total-overdue").textContent = report.totals.overdue;
    const labels = report.mandates.map((m) => m.role + " → " + m.level.split("/").pop() + " (" + m.within + ")");
    const part = (field) => report.mandates.map((m) => m.totals[field]);
    draw("compliance", $("compliance"), {
      type: "bar",
      data: {
        labels,
        datasets: [
          { label: "Compliant", data: part("compliant"), backgroundColor: "#2e8b57" },
          { label: "Due", data: part("due"), backgroundColor: "#d99a00" },
          { label: "Overdue", data: part("overdue"), backgroundColor: "#c8102e" },
        ],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        plugins: {
          legend: { position: "top", align: "start" },
          valueLabels: { inside: true, format: (v) => (v ? String(v) : "") },
        },
        scales: { x: { stacked: true, ticks: { precision: 0 } }, y: { stacked: true } },
      },
    });
    $("overdue-list").querySelector("tbody").textContent = "";
    appendOverdue(report.overdue);
  }

  function appendOverdue(page) {
    const tbody = $("overdue-list").querySelector("tbody");
    page.items.forEach((x) => {
      const tr = document.createElement("tr");
      tr.dataset.learner = x.learner_id;
      [x.name ? x.name + " (" + x.learner_id + ")" : x.learner_id, groupName(x.group), x.role, x.level,
       x.overdue_since.slice(0, 10)].forEach((v) => {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    if (!tbody.children.length) tbody.innerHTML = '<tr><td colspan="5" class="empty">Nobody is overdue.</td></tr>';
    overdueCursor = page.next_cursor;
    $("overdue-more").hidden = !overdueCursor;
  }

  async function renderFunnel(track) {
    if (!track) return;
    const report = await api("/v1/reports/funnel?track=" + encodeURIComponent(track));
    draw("funnel", $("funnel"), {
      type: "bar",
      data: {
        labels: report.steps.map((s) => s.rank + ". " + s.name),
        datasets: [{ label: "Learners reaching the rank", data: report.steps.map((s) => s.reached), backgroundColor: "#8a4fd1" }],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        layout: { padding: { right: 90 } },
        plugins: {
          legend: { display: false },
          valueLabels: { format: (v, j) => v + " (" + pct(report.steps[j].conversion) + ")" },
        },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }

  async function load() {
    const groupBy = $("group-by").value.trim() || "all";
    document.body.dataset.state = "loading";
    status("Loading reports…");
    try {
      const q = "group_by=" + encodeURIComponent(groupBy);
      const [certification, rate, compliance] = await Promise.all([
        api("/v1/reports/certification?" + q),
        api("/v1/reports/completion-rate?months=12"),
        api("/v1/reports/compliance?limit=20&" + q),
      ]);
      $("reports").hidden = false;
      renderCertified(certification);
      renderExpiring(certification);
      renderCompletionRate(rate);
      renderCompliance(compliance);
      const tracks = [...new Set(certification.levels.map((l) => l.track))];
      const select = $("funnel-track");
      const chosen = tracks.includes(select.value) ? select.value : tracks[0];
      select.innerHTML = "";
      tracks.forEach((t) => select.add(new Option(t, t, false, t === chosen)));
      await renderFunnel(chosen);
      $("computed").textContent = "Computed " + new Date(certification.computed_at).toLocaleString() + " (certification as of " + certification.at.slice(0, 16).replace("T", " ") + " UTC).";
      status("Reports for " + (groupBy === "all" ? "everyone" : "each " + groupBy) + ".");
      document.body.dataset.state = "ready";
    } catch (error) {
      document.body.dataset.state = "error";
      if (error.status === 401) sessionStorage.removeItem(KEY);
      status((error.status === 401 ? "The API key was refused: " : error.status === 403 ? "This key lacks the reports:read scope: " : "Could not load the reports: ") + error.message, true);
    }
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY, key);
    $("api-key").value = "";
    load();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    Object.keys(charts).forEach((k) => { charts[k].destroy(); delete charts[k]; });
    $("reports").hidden = true;
    document.body.dataset.state = "locked";
    status("Key forgotten.");
  });
  $("funnel-track").addEventListener("change", (e) => renderFunnel(e.target.value).catch((err) => status(err.message, true)));
  $("overdue-more").addEventListener("click", async () => {
    const q = "group_by=" + encodeURIComponent($("group-by").value.trim() || "all");
    try {
      appendOverdue(await api("/v1/reports/compliance/overdue?limit=20&cursor=" + encodeURIComponent(overdueCursor) + "&" + q));
    } catch (error) {
      status(error.message, true);
    }
  });
  window.credenceDashboard = { charts };
  if (sessionStorage.getItem(KEY)) load();
})();
