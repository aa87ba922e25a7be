// NAS service dashboard: plain JavaScript over the REST API (/api/...), Plotly for charts.
"use strict";

const FINAL = ["succeeded", "failed", "cancelled"];
const parts = location.pathname.split("/").filter(Boolean); // dashboard, jobs, <id>, candidates, <seq>
const jobId = parts[2];
const seq = parts[4];
const main = document.getElementById("main");
// app.js runs before the Plotly bundle (page.html), so a page's requests overlap the bundle's
// parsing; charts wait for it (deferred scripts have all run at DOMContentLoaded)
const plotlyReady = new Promise((resolve) => {
  if (window.Plotly || document.readyState === "complete") resolve();
  else document.addEventListener("DOMContentLoaded", resolve);
});
async function react(...args) {
  await plotlyReady;
  return Plotly.react(...args);
}

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return esc(value);
  const a = Math.abs(value);
  if (a >= 1e9) return (value / 1e9).toFixed(2) + "G";
  if (a >= 1e6) return (value / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (value / 1e3).toFixed(1) + "k";
  if (Number.isInteger(value)) return String(value);
  return value.toPrecision(4);
}

async function api(path) {
  const r = await fetch("/api" + path);
  if (!r.ok) {
    let message = r.statusText;
    try { const body = await r.json(); message = body.message || body.detail || message; } catch (e) { /* not JSON */ }
    throw new Error(`${r.status}: ${message}`);
  }
  return r.json();
}

function state(s) { return `<span class="state ${esc(s)}">${esc(s)}</span>`; }
function bar(p) { return `<span class="bar"><span style="width:${(100 * p).toFixed(1)}%"></span></span> ${(100 * p).toFixed(0)}%`; }
function crumbs(html) { document.getElementById("crumbs").innerHTML = html; }
function fail(e) { main.innerHTML = `<p class="error">${esc(e.message || e)}</p>`; }
function throttle(fn, ms) {
  let timer = null;
  return () => { if (!timer) timer = setTimeout(() => { timer = null; fn(); }, ms); };
}

// ---------------------------------------------------------------- jobs page
async function jobsPage() {
  const { data } = await api("/jobs?limit=200");
  main.innerHTML = `<h1>Search jobs</h1>
    <table id="jobs"><thead><tr><th>Job</th><th>Space</th><th>Dataset</th><th>State</th><th>Progress</th>
    <th class="num">Evaluated</th><th class="num">Hypervolume</th><th>Best on front</th><th>Created</th><th>Compare</th></tr></thead>
    <tbody>${data.map((j) => `<tr class="clickable" data-id="${esc(j.id)}">
      <td><a href="/dashboard/jobs/${esc(j.id)}">${esc(j.name || j.id)}</a><div class="muted" title="${esc(j.id)}">${esc(j.id.slice(0, 12))}…</div></td>
      <td>${esc(j.spec.space)}</td><td>${esc(j.spec.dataset)}</td><td>${state(j.state)}<div class="muted">${esc(j.phase)}${j.queue_position ? ` (#${j.queue_position} in line)` : ""}</div></td>
      <td>${bar(j.progress)}</td><td class="num">${j.evaluated}/${j.budget}${j.failed ? ` <span class="error">(${j.failed} failed)</span>` : ""}</td>
      <td class="num">${fmt(j.hypervolume)}</td>
      <td>${Object.entries(j.best).map(([k, v]) => `${esc(k)} ${fmt(v)}`).join(", ") || "–"}</td>
      <td class="muted">${esc(new Date(j.created_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" }))}</td>
      <td><input type="checkbox" class="pick" value="${esc(j.id)}" aria-label="compare ${esc(j.id)}"></td></tr>`).join("")}</tbody></table>
    <p><a id="compare" href="#" class="muted">compare the jobs ticked (same objectives)</a></p>
    ${data.length ? "" : '<p class="muted">No jobs yet: submit one with <code>nas submit SPEC.json</code> or POST /api/jobs.</p>'}`;
  main.querySelectorAll("tr.clickable").forEach((tr) => tr.addEventListener("click", (e) => {
    if (!e.target.classList.contains("pick")) location.href = `/dashboard/jobs/${tr.dataset.id}`;
  }));
  document.getElementById("compare").onclick = (e) => {
    e.preventDefault();
    const ids = [...main.querySelectorAll("input.pick:checked")].map((c) => c.value);
    if (ids.length >= 2) location.href = `/dashboard/compare?jobs=${ids.join(",")}`;
  };
  if (data.some((j) => !FINAL.includes(j.state))) setTimeout(() => jobsPage().catch(fail), 2000);
}

// ---------------------------------------------------------------- job page
async function candidatePoints(id) {
  // every scored candidate as {seq, arch_id, feasible, metrics}, from one columnar response
  const p = await api(`/jobs/${id}/points`);
  const names = Object.keys(p.metrics);
  const out = p.seq.map((seq, i) => ({
    seq, arch_id: p.arch_id[i], feasible: p.feasible[i],
    metrics: Object.fromEntries(names.filter((k) => p.metrics[k][i] !== null).map((k) => [k, p.metrics[k][i]])),
  }));
  out.names = names;
  return out;
}

function hoverText(c) {
  const metrics = Object.entries(c.metrics).map(([k, v]) => `${k}: ${fmt(v)}`).join("<br>");
  return `<b>#${c.seq}</b> ${esc(c.arch_id)}<br>${metrics}${c.feasible ? "" : "<br><i>violates a constraint</i>"}`;
}

const view = { x: null, y: null };
const MAX_DRAWN = 2000;  // SVG markers at most; more are painted

async function jobPage() {
  crumbs(`/ job <code>${esc(jobId)}</code>`);
  main.innerHTML = `<div class="card" id="summary"></div>
    <div class="grid">
      <div class="card"><div class="controls"><b>Pareto front</b>
        <label>x <select id="x"></select></label><label>y <select id="y"></select></label>
        <span class="muted" id="counts"></span></div>
        <div id="front-plot" style="height:460px"></div></div>
      <div class="card"><b>Front history</b><div id="history-plot" style="height:220px"></div>
        <h2>Front members</h2><div id="members" style="max-height:170px;overflow:auto"></div></div>
    </div>
    <div class="card" id="parallel-card" hidden><b>The front in parallel coordinates</b>
      <span class="muted">one line per front member across every objective (better is up; grey: a sample of the other candidates); click a line to open it</span>
      <div id="parallel-plot" style="height:320px"></div></div>`;
  const refresh = throttle(() => drawJob().catch(fail), 800);
  await drawJob();
  const job = await api(`/jobs/${jobId}`);
  if (!FINAL.includes(job.state)) {
    const events = new EventSource(`/api/jobs/${jobId}/events`);
    const onEvent = (e) => {
      refresh();
      const data = JSON.parse(e.data);
      if (data.kind === "state" && FINAL.includes(data.state)) events.close();
    };
    events.addEventListener("progress", onEvent);
    events.addEventListener("state", onEvent);
    events.addEventListener("phase", onEvent);
    events.addEventListener("finalist", onEvent);
    events.onerror = () => { if (events.readyState === EventSource.CLOSED) refresh(); };
  }
}

function fidelity(finals, spec) {
  const f = finals.fidelity, how = spec.finalists;
  const tau = f.kendall_tau === null ? "not yet (needs 3 measured)"
    : `<b>${fmt(f.kendall_tau)}</b> <span class="muted">[${fmt(f.ci95[0])}, ${fmt(f.ci95[1])}] (bootstrap 95%)</span>`;
  const rows = finals.data.map((r) => `<a href="/dashboard/jobs/${esc(jobId)}/candidates/${r.seq}">#${r.seq}</a> `
    + `${fmt(r.cheap)} → ${r.accuracy === null ? (r.error ? "failed" : "stopped early") : fmt(r.accuracy)}`).join(" · ");
  return `Kendall tau of the cheap ${esc(finals.metric)} against training from scratch: ${tau}; `
    + `${f.trained}/${finals.chosen} finalists trained with ${esc(how.evaluator)} (n = ${f.n})`
    + (rows ? `<div class="muted">${rows}</div>` : "");
}

function sources(seen, artifacts) {
  // where each metric comes from (one scored candidate's provenance): the evaluator and the artifact it read
  const names = Object.fromEntries(artifacts.map((a) => [a.id, a]));
  if (!seen) return "";
  return Object.entries(seen.provenance || {}).map(([metric, p]) => {
    const ids = Object.entries(p).filter(([k, v]) => k.endsWith("_id") && names[v]).map(([, v]) => names[v]);
    const from = ids.map((a) => `${esc(a.kind.replace("_", " "))} <a href="/dashboard/artifacts#${esc(a.id)}">${esc(a.name)}</a>`
      + (a.info && a.info.source && typeof a.info.source === "string" ? ` (${esc(a.info.source)})` : "")).join(", ");
    const column = p.columns && p.columns[metric] ? `, column ${esc(p.columns[metric])}` : "";
    return `${esc(metric)}: <b>${esc(p.evaluator)}</b>${from ? ` from ${from}` : p.evaluator === "cost" ? " (counted from the architecture)" : ""}${column}`;
  }).join(" · ");
}

async function drawJob() {
  const [job, front, history, points, finals, artifacts, first] = await Promise.all([
    api(`/jobs/${jobId}`), api(`/jobs/${jobId}/front`), api(`/jobs/${jobId}/front/history`), candidatePoints(jobId),
    api(`/jobs/${jobId}/finalists`), api("/artifacts"), api(`/jobs/${jobId}/candidates?limit=1&status=ok`),
  ]);
  performance.mark("job-data");  // everything fetched (benchmarks/dashboard_load.py reads the marks)
  const from = sources(first.data[0], artifacts);
  document.title = `${job.name || job.id} – NAS service`;
  const spec = job.spec;
  document.getElementById("summary").innerHTML = `<h1>${esc(job.name || job.id)} ${state(job.state)}</h1>
    <div class="kv">
      <div>progress</div><div>${bar(job.progress)} ${job.evaluated}/${job.budget} evaluated${job.failed ? `, ${job.failed} failed` : ""} <span class="muted">(${esc(job.phase)})</span></div>
      <div>search</div><div>${esc(spec.space)} on ${esc(spec.dataset)}, device ${esc(spec.device)}, strategy ${esc(spec.strategy.name)}</div>
      <div>objectives</div><div>${spec.objectives.map((o) => `${esc(o.metric)} (${esc(o.direction)})`).join(", ")}${spec.constraints.length ? `; constraints ${spec.constraints.map(esc).join(", ")}` : ""}</div>
      ${from ? `<div>metrics from</div><div id="sources">${from}</div>` : ""}
      <div>hypervolume</div><div>${fmt(front.hypervolume)}${front.hypervolume_share === null ? "" : ` (<b id="hv-share">${(100 * front.hypervolume_share).toFixed(1)}%</b> of the box from the front's best values to the reference)`} <span class="muted">reference ${Object.entries(front.reference_point).map(([k, v]) => `${esc(k)}=${fmt(v)}`).join(", ")}</span></div>
      ${finals.metric ? `<div>fidelity</div><div id="fidelity">${fidelity(finals, spec)}</div>` : ""}
      ${job.error ? `<div>error</div><div class="error">${esc(job.error)}</div>` : ""}
      <div>links</div><div><a href="/dashboard/jobs/${esc(jobId)}/candidates">all candidates</a> ·
        <a href="/api/jobs/${esc(jobId)}/front.zip" id="front-zip">download the front (zip)</a> ·
        <a href="/api/jobs/${esc(jobId)}/front">front as JSON</a></div>
    </div>`;

  const ok = points;
  const metrics = [...new Set([...spec.objectives.map((o) => o.metric), ...ok.names])];
  const xs = document.getElementById("x"), ys = document.getElementById("y");
  if (!view.x) { view.x = metrics[0]; view.y = metrics[1] || metrics[0]; }
  for (const [sel, key] of [[xs, "x"], [ys, "y"]]) {
    sel.innerHTML = metrics.map((m) => `<option ${m === view[key] ? "selected" : ""}>${esc(m)}</option>`).join("");
    sel.onchange = () => { view[key] = sel.value; plotFront(job, spec, front, ok).catch(fail); };
  }
  await plotFront(job, spec, front, ok);

  await react(document.getElementById("history-plot"), [{
    x: history.points.map((p) => p.step), y: history.points.map((p) => p.hypervolume), mode: "lines+markers",
    name: "hypervolume", line: { color: "#2563eb" },
  }], { margin: { t: 10, r: 10, b: 40, l: 60 }, xaxis: { title: { text: "evaluations" } }, yaxis: { title: { text: "hypervolume" } } },
  { displaylogo: false, responsive: true });

  const objs = spec.objectives.map((o) => o.metric);
  if (objs.length >= 3) await plotParallel(spec, front, ok);
  document.getElementById("members").innerHTML = `<table><tr><th>#</th>${objs.map((m) => `<th class="num">${esc(m)}</th>`).join("")}</tr>
    ${front.members.map((c) => `<tr class="clickable" onclick="location.href='/dashboard/jobs/${esc(jobId)}/candidates/${c.seq}'">
    <td>${c.seq}</td>${objs.map((m) => `<td class="num">${fmt(c.metrics[m])}</td>`).join("")}</tr>`).join("")}</table>`;
}

function extent(values) {
  const lo = Math.min(...values), hi = Math.max(...values), pad = (hi - lo) * 0.04 || Math.abs(lo) * 0.04 || 1;
  return [lo - pad, hi + pad];
}

// the points as dots on a canvas spanning the axes' ranges, as a data URL (Plotly lays it under the axes)
function paintCloud(groups, xr, yr, width = 1200, height = 800) {
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const g = canvas.getContext("2d");
  for (const [points, color] of groups) {
    g.fillStyle = color;
    for (const c of points) {
      const px = ((c.metrics[view.x] - xr[0]) / (xr[1] - xr[0])) * width;
      const py = (1 - (c.metrics[view.y] - yr[0]) / (yr[1] - yr[0])) * height;
      g.beginPath(); g.arc(px, py, 4, 0, 2 * Math.PI); g.fill();
    }
  }
  return canvas.toDataURL();
}

// the front plot from the loaded points (axis changes redraw it without fetching again)
async function plotFront(job, spec, front, ok) {
  performance.mark("front-start");
  const onFront = new Set(front.members.map((m) => m.seq));
  // the front last, so it is drawn on top
  const groups = {
    dominated: ok.filter((c) => c.feasible && !onFront.has(c.seq)),
    infeasible: ok.filter((c) => !c.feasible),
    front: ok.filter((c) => onFront.has(c.seq)),
  };
  const style = {
    dominated: { color: "rgba(148,163,184,0.55)", size: 6 },
    infeasible: { color: "rgba(239,68,68,0.35)", size: 6, symbol: "x" },
    front: { color: "#2563eb", size: 10, line: { color: "#1e3a8a", width: 1 } },
  };
  // SVG markers cost 0.1-0.3 ms each: beyond MAX_DRAWN the dominated and infeasible clouds are
  // painted on a canvas laid under the axes (every point, no hover); the front stays SVG markers
  const painted = groups.dominated.length + groups.infeasible.length > MAX_DRAWN;
  const traces = Object.entries(groups).map(([name, group]) => {
    const rich = name === "front";  // every metric on hover for the front; seq, id and the axes for the rest
    const shown = painted && !rich ? [] : group;
    return {
      name: `${name} (${group.length})`, type: "scatter",
      mode: rich ? "markers+lines" : "markers", marker: style[name],
      x: shown.map((c) => c.metrics[view.x]), y: shown.map((c) => c.metrics[view.y]),
      customdata: shown.map((c) => c.seq), line: { shape: "hv", width: 1, color: "rgba(37,99,235,0.4)" },
      ...(rich ? { text: shown.map(hoverText), hoverinfo: "text" } : {
        text: shown.map((c) => c.arch_id),
        hovertemplate: `<b>#%{customdata}</b> %{text}<br>${esc(view.x)}: %{x}<br>${esc(view.y)}: %{y}<extra></extra>`,
      }),
    };
  });
  // sort the front along x so its staircase line reads left to right
  const f = traces[2];
  const order = f.x.map((_, i) => i).sort((a, b) => f.x[a] - f.x[b]);
  for (const k of ["x", "y", "customdata", "text"]) f[k] = order.map((i) => f[k][i]);
  if (new Set([view.x, view.y]).size < 2 || spec.objectives.length !== 2) f.mode = "markers";
  const plot = document.getElementById("front-plot");
  const layout = {
    margin: { t: 10, r: 10, b: 45, l: 60 }, xaxis: { title: { text: view.x } }, yaxis: { title: { text: view.y } },
    legend: { orientation: "h", y: -0.18 }, hovermode: "closest", uirevision: `${view.x}/${view.y}`,
  };
  if (painted) {
    const xr = extent(ok.map((c) => c.metrics[view.x])), yr = extent(ok.map((c) => c.metrics[view.y]));
    Object.assign(layout.xaxis, { range: xr, autorange: false });
    Object.assign(layout.yaxis, { range: yr, autorange: false });
    layout.images = [{
      source: paintCloud([[groups.dominated, "rgba(148,163,184,0.55)"], [groups.infeasible, "rgba(239,68,68,0.45)"]], xr, yr),
      xref: "x", yref: "y", x: xr[0], y: yr[1], sizex: xr[1] - xr[0], sizey: yr[1] - yr[0],
      sizing: "stretch", layer: "below", xanchor: "left", yanchor: "top",
    }];
  }
  await react(plot, traces, layout, { displaylogo: false, responsive: true });
  plot.dataset.frontPoints = String(groups.front.length);
  plot.dataset.totalPoints = String(ok.length);
  plot.dataset.painted = String(painted ? groups.dominated.length + groups.infeasible.length : 0);
  plot.dataset.state = job.state;
  if (!plot.dataset.bound) {
    plot.dataset.bound = "1";
    plot.on("plotly_click", (ev) => {
      const point = ev.points[0];
      if (point && point.customdata !== undefined) location.href = `/dashboard/jobs/${jobId}/candidates/${point.customdata}`;
    });
  }
  document.getElementById("counts").textContent = `${ok.length} evaluated, ${groups.front.length} on the front, ${groups.infeasible.length} infeasible`
    + (painted ? " (dominated grey and infeasible red painted as one image: hover and click reach the front)" : "");

  plot.dataset.drawn = String(Number(plot.dataset.drawn || 0) + 1);
  window.frontDrawnAt = performance.now();
}

// parallel coordinates for three or more objectives: one polyline per front member, each axis
// scaled to the candidates' range and flipped for minimised metrics so that better is always up
const MAX_CONTEXT = 300;
async function plotParallel(spec, front, ok) {
  const objs = spec.objectives, card = document.getElementById("parallel-card");
  const scored = ok.filter((c) => objs.every((o) => c.metrics[o.metric] !== undefined));
  if (!scored.length) return;
  const range = objs.map((o) => {
    const v = scored.map((c) => c.metrics[o.metric]);
    return [Math.min(...v), Math.max(...v)];
  });
  const level = (c, i) => {
    const [lo, hi] = range[i], t = hi > lo ? (c.metrics[objs[i].metric] - lo) / (hi - lo) : 0.5;
    return objs[i].direction === "max" ? t : 1 - t;
  };
  const onFront = new Set(front.members.map((m) => m.seq));
  const others = scored.filter((c) => !onFront.has(c.seq));
  const step = Math.ceil(others.length / MAX_CONTEXT) || 1;
  const context = { x: [], y: [] };
  others.filter((_, i) => i % step === 0).forEach((c) => {
    objs.forEach((_, i) => { context.x.push(i); context.y.push(level(c, i)); });
    context.x.push(null); context.y.push(null);
  });
  const traces = [{ ...context, type: "scatter", mode: "lines", hoverinfo: "skip", showlegend: false,
    line: { color: "rgba(148,163,184,0.25)", width: 1 } }];
  for (const m of front.members) {
    traces.push({ x: objs.map((_, i) => i), y: objs.map((_, i) => level(m, i)), type: "scatter", mode: "lines+markers",
      showlegend: false, customdata: objs.map(() => m.seq), line: { color: "rgba(37,99,235,0.7)", width: 2 },
      marker: { size: 5, color: "#1e3a8a" }, hoverinfo: "text",
      text: objs.map((o) => `<b>#${m.seq}</b> ${esc(o.metric)}: ${fmt(m.metrics[o.metric])}`) });
  }
  const ticks = objs.map((o, i) => `${esc(o.metric)} (${o.direction})<br><span style="font-size:10px">${fmt(range[i][o.direction === "max" ? 0 : 1])} → ${fmt(range[i][o.direction === "max" ? 1 : 0])}</span>`);
  card.hidden = false;
  const plot = document.getElementById("parallel-plot");
  await react(plot, traces, {
    margin: { t: 10, r: 30, b: 55, l: 30 }, hovermode: "closest",
    xaxis: { tickvals: objs.map((_, i) => i), ticktext: ticks, range: [-0.1, objs.length - 0.9], zeroline: false, showgrid: true },
    yaxis: { range: [-0.03, 1.03], showticklabels: false, zeroline: false, showgrid: false },
  }, { displaylogo: false, responsive: true });
  plot.dataset.lines = String(front.members.length);
  if (!plot.dataset.bound) {
    plot.dataset.bound = "1";
    plot.on("plotly_click", (ev) => {
      const point = ev.points[0];
      if (point && point.customdata !== undefined) location.href = `/dashboard/jobs/${jobId}/candidates/${point.customdata}`;
    });
  }
}

// ---------------------------------------------------------------- candidates page
const table = { sort: "seq", order: "asc", offset: 0, limit: 50 };

async function candidatesPage() {
  crumbs(`/ <a href="/dashboard/jobs/${esc(jobId)}">job ${esc(jobId)}</a> / candidates`);
  const job = await api(`/jobs/${jobId}`);
  const metrics = [...new Set([...job.spec.objectives.map((o) => o.metric), "params", "macs"])];
  main.innerHTML = `<h1>Candidates of ${esc(job.name || job.id)}</h1>
    <div class="card controls" id="filters">
      <label>status <select id="f-status"><option value="">any</option><option>ok</option><option>failed</option></select></label>
      <label>feasible <select id="f-feasible"><option value="">any</option><option value="true">yes</option><option value="false">no</option></select></label>
      ${metrics.map((m) => `<label>${esc(m)} <input size="7" data-min="${esc(m)}" placeholder="min"> – <input size="7" data-max="${esc(m)}" placeholder="max"></label>`).join("")}
      <button id="apply">Filter</button>
    </div>
    <div class="card"><table id="cands"><thead><tr>
      <th class="sortable" data-sort="seq">#</th><th>status</th>
      ${metrics.map((m) => `<th class="sortable num" data-sort="${esc(m)}">${esc(m)}</th>`).join("")}<th>architecture</th></tr></thead><tbody></tbody></table>
      <div class="controls" style="margin-top:8px"><button id="prev">‹ previous</button><span id="page" class="muted"></span><button id="next">next ›</button></div></div>`;
  main.querySelectorAll("th.sortable").forEach((th) => th.addEventListener("click", () => {
    table.order = table.sort === th.dataset.sort && table.order === "asc" ? "desc" : "asc";
    table.sort = th.dataset.sort; table.offset = 0; loadCandidates(metrics).catch(fail);
  }));
  document.getElementById("apply").onclick = () => { table.offset = 0; loadCandidates(metrics).catch(fail); };
  document.getElementById("prev").onclick = () => { table.offset = Math.max(0, table.offset - table.limit); loadCandidates(metrics).catch(fail); };
  document.getElementById("next").onclick = () => { table.offset += table.limit; loadCandidates(metrics).catch(fail); };
  await loadCandidates(metrics);
}

async function loadCandidates(metrics) {
  const q = new URLSearchParams({ sort: table.sort, order: table.order, limit: table.limit, offset: table.offset });
  const status = document.getElementById("f-status").value, feasible = document.getElementById("f-feasible").value;
  if (status) q.set("status", status);
  if (feasible) q.set("feasible", feasible);
  for (const m of metrics) {
    const lo = main.querySelector(`[data-min="${m}"]`).value.trim(), hi = main.querySelector(`[data-max="${m}"]`).value.trim();
    if (lo || hi) q.append("range", `${m}:${lo}:${hi}`);
  }
  const { data, count } = await api(`/jobs/${jobId}/candidates?${q}`);
  document.querySelector("#cands tbody").innerHTML = data.map((c) => `<tr class="clickable" onclick="location.href='/dashboard/jobs/${esc(jobId)}/candidates/${c.seq}'">
    <td>${c.seq}</td><td>${c.status === "ok" ? (c.feasible ? "ok" : "infeasible") : `<span class="error" title="${esc(c.error)}">failed</span>`}</td>
    ${metrics.map((m) => `<td class="num">${fmt(c.metrics[m])}</td>`).join("")}<td class="muted">${esc(c.summary).slice(0, 90)}</td></tr>`).join("");
  document.getElementById("page").textContent = `${count ? table.offset + 1 : 0}–${Math.min(count, table.offset + table.limit)} of ${count} (sorted by ${table.sort} ${table.order})`;
  document.getElementById("prev").disabled = table.offset === 0;
  document.getElementById("next").disabled = table.offset + table.limit >= count;
}

// ---------------------------------------------------------------- candidate page
async function candidatePage() {
  crumbs(`/ <a href="/dashboard/jobs/${esc(jobId)}">job ${esc(jobId)}</a> / <a href="/dashboard/jobs/${esc(jobId)}/candidates">candidates</a> / #${esc(seq)}`);
  const c = await api(`/jobs/${jobId}/candidates/${seq}`);
  const base = `/api/jobs/${esc(jobId)}/candidates/${esc(seq)}/files`;
  const files = [["arch.json", "architecture, metrics, provenance, sha256 of every file"], ["model.safetensors", "weights"],
    ["model.pt2", "torch.export program"], ["model.onnx", "ONNX (checked in ONNX Runtime)"], ["model.py", "standalone PyTorch definition"]];
  main.innerHTML = `<h1 id="candidate-title">Candidate #${esc(c.seq)} <code>${esc(c.arch_id)}</code></h1>
    <div class="grid"><div class="card"><div class="kv">
      <div>status</div><div>${c.status === "ok" ? (c.feasible ? "ok" : `infeasible (violation ${fmt(c.violation)})`) : `<span class="error">failed: ${esc(c.error)}</span>`}</div>
      <div>space</div><div>${esc(c.arch.space)} v${esc(c.arch.version)}</div>
      <div>summary</div><div>${esc(c.summary)}</div>
      <div>evaluated in</div><div>${fmt(c.seconds)} s</div></div>
      <h2>Metrics</h2><table><tr><th>metric</th><th class="num">value</th><th>produced by</th></tr>
      ${Object.entries(c.metrics).map(([k, v]) => `<tr><td>${esc(k)}</td><td class="num">${fmt(v)}</td><td class="muted"><code>${esc(JSON.stringify(c.provenance[k] || {}))}</code></td></tr>`).join("")}</table>
      <h2>Network</h2><div id="network" class="muted">…</div>
      <details><summary>Genome (JSON)</summary><pre>${esc(JSON.stringify(c.arch, null, 2))}</pre></details></div>
    <div class="card"><b>Downloads</b><p class="muted">Files are built on first request (a few seconds).</p>
      <ul id="downloads">${files.map(([f, what]) => `<li><a href="${base}/${f}" download>${f}</a> <span class="muted">${what}</span></li>`).join("")}</ul>
      <button id="prepare">Show sizes and checksums</button><div id="file-info"></div></div></div>`;
  api(`/jobs/${jobId}/candidates/${seq}/layers`).then(drawNetwork).catch((e) => {
    document.getElementById("network").textContent = e.message;
  });
  document.getElementById("prepare").onclick = async () => {
    document.getElementById("file-info").innerHTML = '<p class="muted">Building the bundle…</p>';
    try {
      const info = await api(`/jobs/${jobId}/candidates/${seq}/files`);
      document.getElementById("file-info").innerHTML = `<p>weights: ${esc(info.weights.source)}${info.weights.note ? ` <span class="muted">(${esc(info.weights.note)})</span>` : ""}</p>
        <table>${Object.entries(info.files).map(([f, d]) => `<tr><td>${esc(f)}</td><td class="num">${fmt(d.bytes)}B</td><td><code>${esc(d.sha256.slice(0, 16))}…</code></td></tr>`).join("")}</table>`;
    } catch (e) { document.getElementById("file-info").innerHTML = `<p class="error">${esc(e.message)}</p>`; }
  };
}

// a candidate's network as stages or cells of blocks: layers grouped by their name's first part
// (stem, b3, cell0, head), consecutive groups that are the same layers shown once with a count
function blockLabel(l) {
  const a = l.attrs || {};
  const op = a.op || a.pool || (l.kind === "mbconv" ? `MB${l.expansion}` : l.kind.replace(/^(nasnet|nb201)_/, ""));
  const k = l.kernel > 1 && !a.op ? ` ${l.kernel}x${l.kernel}` : "";
  const edge = /\.edge_(\d+)_(\d+)$/.exec(l.name);  // a cell's edge: from node i to node j
  const where = edge ? `<span class="muted">node ${edge[1]}→${edge[2]}</span>` : "";
  const extra = [l.stride > 1 ? `/${l.stride}` : "", l.se ? "SE" : "", l.skip !== "none" ? `+${l.skip}` : "", a.dil ? `dil ${a.dil}` : ""].filter(Boolean).join(" ");
  return `<div class="block k-${esc(l.kind)}" title="${esc(l.name)}: ${esc(l.kind)} ${l.c_in}→${l.c_out} at ${l.hw}x${l.hw}, ${fmt(l.params)} params, ${fmt(l.macs)} MACs">
    ${where}<b>${esc(op)}${esc(k)}</b> <span>${esc(extra)}</span><span class="muted">${l.c_in}→${l.c_out} @${l.hw}</span></div>`;
}

function drawNetwork(net) {
  const groups = [];
  for (const l of net.layers) {
    const key = l.name.split(".")[0];
    if (!groups.length || groups[groups.length - 1].key !== key) groups.push({ key, layers: [] });
    groups[groups.length - 1].layers.push(l);
  }
  const same = (a, b) => JSON.stringify(a.layers.map((l) => [l.kind, l.kernel, l.stride, l.expansion, l.se, l.skip, l.attrs, l.c_out]))
    === JSON.stringify(b.layers.map((l) => [l.kind, l.kernel, l.stride, l.expansion, l.se, l.skip, l.attrs, l.c_out]));
  const shown = [];
  for (const g of groups) {
    const last = shown[shown.length - 1];
    if (last && same(last.groups[0], g)) last.groups.push(g); else shown.push({ groups: [g] });
  }
  const totals = net.layers.reduce((t, l) => [t[0] + l.params, t[1] + l.macs], [0, 0]);
  document.getElementById("network").innerHTML = `<p class="muted">${net.layers.length} layers at ${net.shape.in_channels}x${net.shape.input_size}x${net.shape.input_size} → ${net.shape.num_classes};
    ${fmt(totals[0])} parameters, ${fmt(totals[1])} MACs (hover a block for its shapes and cost)</p>
    <div class="network">${shown.map((s) => {
      const g = s.groups[0], n = s.groups.length;
      const name = n > 1 ? `${esc(g.key)}–${esc(s.groups[n - 1].key)} <span class="muted">×${n}</span>` : esc(g.key);
      return `<div class="stage" data-name="${esc(g.key)}"><div class="stage-name">${name}</div>${g.layers.map(blockLabel).join("")}</div>`;
    }).join("")}</div>`;
}

// ---------------------------------------------------------------- compare page
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];

async function comparePage() {
  crumbs("/ compare");
  const ids = (new URLSearchParams(location.search).get("jobs") || "").split(",").filter(Boolean);
  const cmp = await api(`/fronts/compare?jobs=${ids.map(encodeURIComponent).join(",")}`);
  const [jobs, fronts] = await Promise.all([Promise.all(ids.map((id) => api(`/jobs/${id}`))), Promise.all(ids.map((id) => api(`/jobs/${id}/front`)))]);
  const objs = cmp.objectives.map((o) => o.metric);
  const ref = Object.entries(cmp.reference_point).map(([k, v]) => `${esc(k)}=${fmt(v)}`).join(", ");
  main.innerHTML = `<h1>Comparing ${ids.length} jobs</h1>
    <div class="card"><table id="comparison"><tr><th>Job</th><th>State</th><th class="num">Evaluated</th><th class="num">Front size</th>
      <th class="num">Hypervolume (common reference)</th></tr>
      ${jobs.map((j, i) => `<tr data-id="${esc(j.id)}"><td><span style="color:${COLORS[i % COLORS.length]}">●</span> <a href="/dashboard/jobs/${esc(j.id)}">${esc(j.name || j.id)}</a></td>
        <td>${state(j.state)}</td><td class="num">${j.evaluated}/${j.budget}</td><td class="num">${cmp.front_size[j.id]}</td>
        <td class="num">${fmt(cmp.hypervolume[j.id])}</td></tr>`).join("")}</table>
      <p class="muted">One reference point for all: the worst of the jobs' own (${ref}).</p></div>
    <div class="card"><b>Fronts</b> <span class="muted">${esc(objs[0])} against ${esc(objs[1] || objs[0])}</span><div id="compare-plot" style="height:420px"></div></div>`;
  const traces = fronts.map((f, i) => {
    const pts = f.members.filter((c) => c.feasible).sort((a, b) => a.metrics[objs[0]] - b.metrics[objs[0]]);
    return { x: pts.map((c) => c.metrics[objs[0]]), y: pts.map((c) => c.metrics[objs[1] || objs[0]]), mode: "lines+markers",
      line: { shape: "hv", color: COLORS[i % COLORS.length] }, name: jobs[i].name || jobs[i].id };
  });
  await react(document.getElementById("compare-plot"), traces, {
    margin: { t: 10, r: 10, b: 45, l: 60 }, xaxis: { title: { text: objs[0] } }, yaxis: { title: { text: objs[1] || objs[0] } },
    legend: { orientation: "h", y: -0.18 },
  }, { displaylogo: false, responsive: true });
  document.getElementById("compare-plot").dataset.traces = String(traces.length);
}

// ---------------------------------------------------------------- artifacts page
function figures(a) {
  const i = a.info || {};
  const pct = (v) => (v === undefined || v === null ? "–" : `${(100 * v).toFixed(1)}%`);
  if (a.kind === "supernet") {
    const acc = i.accuracy || {};
    return `${esc(i.space)} on ${esc(i.dataset)}, ${esc(i.epochs)} epochs; validation accuracy largest ${pct((acc.largest || {}).val)}, smallest ${pct((acc.smallest || {}).val)}`;
  }
  if (a.kind === "predictor") {
    const cv = i.cv || {};
    const shown = ["kendall_tau", "spearman", "mape", "within_10pct"].filter((k) => cv[k] !== undefined);
    return `${esc(i.metric)} of ${esc(i.space)} (${esc(i.label)}), trained on ${esc(i.n_train)}; ${shown.length ? `CV ${shown.map((k) => `${k} ${fmt(cv[k])}`).join(", ")}` : "no CV"}`;
  }
  if (a.kind === "table") return `${esc(i.space)}: ${esc(i.rows)} architectures; ${Object.entries(i.columns || {}).map(([k, v]) => `${esc(k)} (${esc(v)})`).join(", ")}`;
  if (a.kind === "latency_table") return `${esc(i.space)} on ${esc(i.device)}, ${esc(i.status)} (${esc(i.source)}); ${i.validation ? `validated: ${esc(i.validation)}` : "not validated"}`;
  return Object.entries(i).slice(0, 4).map(([k, v]) => `${esc(k)} ${typeof v === "object" ? "…" : esc(v)}`).join(", ");
}

async function artifactsPage() {
  crumbs("/ artifacts");
  const all = await api("/artifacts");
  main.innerHTML = `<h1>Artifacts</h1><p class="muted">What operations produced: supernets, predictors, tables, DASS searches and latency tables, newest first.</p>
    <table id="artifacts"><thead><tr><th>Kind</th><th>Name</th><th>Figures</th><th>Created</th></tr></thead>
    <tbody>${all.map((a) => `<tr data-id="${esc(a.id)}" id="${esc(a.id)}"><td>${esc(a.kind)}</td><td>${esc(a.name)}<div class="muted"><code>${esc(a.id)}</code></div></td>
      <td style="white-space:normal">${figures(a)}<details><summary class="muted">all metadata</summary><pre>${esc(JSON.stringify(a.info, null, 2))}</pre></details></td>
      <td class="muted">${esc(new Date(a.created_at).toLocaleString())}</td></tr>`).join("")}</tbody></table>
    ${all.length ? "" : '<p class="muted">Nothing yet: train a supernet (<code>nas supernet train</code>), measure or import a latency table (<code>nas lut</code>), fit a predictor (<code>nas predictor train</code>).</p>'}`;
}

const pages = { jobs: jobsPage, job: jobPage, candidates: candidatesPage, candidate: candidatePage, artifacts: artifactsPage, compare: comparePage };
pages[document.body.dataset.page]().catch(fail);
