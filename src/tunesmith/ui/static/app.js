// tunesmith ui: small, dependency-free scripts over the JSON API (/api/*).
"use strict";
const byId = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

async function api(method, url, body) {
  const init = {method, headers: {}};
  if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(url, init);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}
function showError(e) { const el = byId("error"); if (el) el.textContent = e ? (e.message || String(e)) : ""; }

// SVG line chart: series = [{name, points: [[x, y]...], color}]; one <circle class="pt"> per point.
function lineChart(svg, series, opts = {}) {
  const W = svg.clientWidth || 480, H = svg.clientHeight || 240, L = 56, R = 10, T = 10, B = 28;
  const all = series.flatMap((s) => s.points);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (!all.length) { svg.innerHTML = `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="muted">no points yet</text>`; return; }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R), sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  const fmt = (v) => Math.abs(v) >= 1e-2 && Math.abs(v) < 1e4 ? +v.toPrecision(3) : v.toExponential(1);
  let out = `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" class="axis"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" class="axis"/>`;
  for (const v of [y0, (y0 + y1) / 2, y1]) out += `<text x="${L - 4}" y="${sy(v) + 4}" text-anchor="end" class="tick">${fmt(v)}</text>`;
  for (const v of [x0, x1]) out += `<text x="${sx(v)}" y="${H - 8}" text-anchor="middle" class="tick">${fmt(v)}</text>`;
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    const pts = s.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    out += `<g data-series="${esc(s.name)}"><polyline points="${pts}" fill="none" stroke="${color}" stroke-width="1.5"/>`;
    for (const p of s.points) out += `<circle class="pt" cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${color}"><title>${esc(s.name)} step ${p[0]}: ${p[1]}</title></circle>`;
    out += `<text x="${W - R - 4}" y="${T + 12 + 14 * i}" text-anchor="end" fill="${color}" class="legend">${esc(s.name)}</text></g>`;
  });
  svg.innerHTML = out;
}

function barChart(svg, bins) {
  const W = svg.clientWidth || 480, H = svg.clientHeight || 200, L = 40, B = 28, T = 10;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (!bins.length) { svg.innerHTML = ""; return; }
  const top = Math.max(...bins.map((b) => b.count)), bw = (W - L - 10) / bins.length;
  let out = `<text x="${L - 4}" y="${T + 8}" text-anchor="end" class="tick">${top}</text>`;
  bins.forEach((b, i) => {
    const h = b.count / top * (H - T - B);
    out += `<rect class="bar" x="${L + i * bw + 1}" y="${H - B - h}" width="${Math.max(bw - 2, 1)}" height="${h}"><title>${b.lo}-${b.hi} tokens: ${b.count}</title></rect>`;
  });
  out += `<text x="${L}" y="${H - 8}" class="tick">${bins[0].lo}</text><text x="${W - 10}" y="${H - 8}" text-anchor="end" class="tick">${bins[bins.length - 1].hi} tokens</text>`;
  svg.innerHTML = out;
}

// one group of bars per metric, one bar per run (each metric scaled to its own maximum)
function groupedBars(svg, keys, rows) {
  const W = svg.clientWidth || 900, H = svg.clientHeight || 220, B = 28, T = 16 + 14 * rows.length;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (!keys.length || !rows.length) { svg.innerHTML = ""; return; }
  const gw = (W - 20) / keys.length, bw = Math.max((gw - 16) / rows.length, 2);
  let out = "";
  keys.forEach((k, i) => {
    const top = Math.max(...rows.map((r) => Math.abs(r[k] ?? 0))) || 1;
    rows.forEach((r, j) => {
      if (r[k] == null) return;
      const h = Math.abs(r[k]) / top * (H - T - B), x = 10 + i * gw + 8 + j * bw;
      out += `<rect class="metric-bar" x="${x}" y="${H - B - h}" width="${bw - 2}" height="${h}" fill="${COLORS[j % COLORS.length]}"><title>${esc(r.run)} ${esc(k)}: ${r[k]}</title></rect>`;
    });
    out += `<text x="${10 + i * gw + gw / 2}" y="${H - 8}" text-anchor="middle" class="tick">${esc(k)}</text>`;
  });
  rows.forEach((r, j) => { out += `<text x="${W - 10}" y="${12 + 14 * j}" text-anchor="end" fill="${COLORS[j % COLORS.length]}" class="legend">${esc(r.run)}</text>`; });
  svg.innerHTML = out;
}

const series = (records, key) => records.filter((r) => typeof r[key] === "number").map((r) => [r.step, r[key]]);

// -- run page
let RUN = null;
async function watchRun(name) {
  RUN = name;
  byId("chat-link").href = "/playground?model=" + encodeURIComponent(name);
  const tick = async () => {
    let d;
    try { d = await api("GET", "/api/runs/" + name); showError(null); } catch (e) { showError(e); return; }
    const st = byId("status"); st.textContent = d.status; st.className = "status " + d.status;
    byId("step").textContent = d.step + (d.total ? " / " + d.total : "");
    byId("elapsed").textContent = d.elapsed ? Math.round(d.elapsed) + " s" : "";
    byId("best").textContent = d.best || "—";
    byId("command").textContent = d.command;
    byId("chat-link").href = "/playground?model=" + encodeURIComponent(d.path);
    byId("log").textContent = d.log; byId("config").textContent = d.config;
    byId("checkpoints").textContent = d.checkpoints.join(", ") || "—";
    byId("outputs").textContent = d.outputs.join(", ") || "—";
    byId("stop-btn").disabled = d.status !== "running";
    byId("resume-btn").disabled = d.status === "running" || d.status === "finished";
    const loss = [{name: "loss", points: series(d.metrics, "loss")}];
    const ev = series(d.metrics, "eval_loss");
    if (ev.length) loss.push({name: "eval_loss", points: ev});
    lineChart(byId("chart-loss"), loss);
    lineChart(byId("chart-lr"), [{name: "lr", points: series(d.metrics, "lr")}]);
    document.body.dataset.runStatus = d.status;
    if (d.status === "running") setTimeout(tick, 1000);
  };
  tick();
}
async function runAction(action) {
  try { await api("POST", `/api/runs/${RUN}/${action}`, {}); showError(null); setTimeout(() => watchRun(RUN), 300); }
  catch (e) { showError(e); }
}

// -- new run
function runBody() {
  const values = {};
  document.querySelectorAll("#new-run [name]").forEach((el) => { values[el.name] = el.value; });
  return {preset: PRESET, name: byId("run-name").value, nproc: byId("nproc").value, values};
}
async function previewRun() {
  try {
    const d = await api("POST", "/api/runs/preview", runBody());
    byId("preview-command").textContent = d.command; byId("preview-yaml").textContent = d.yaml; showError(null);
  } catch (e) { showError(e); }
}
async function launchRun() {
  try { const d = await api("POST", "/api/runs", runBody()); location.href = "/run/" + d.name; }
  catch (e) { showError(e); }
}

// -- runs list: reload while something runs, unless runs are being picked for Compare
function refreshWhileRunning() {
  const running = document.querySelector("#runs .status.running");
  if (!running) return;
  setTimeout(() => { if (!document.querySelector(".pick:checked")) location.reload(); else refreshWhileRunning(); }, 3000);
}

// -- compare
function compareSelected() {
  const picked = [...document.querySelectorAll(".pick:checked")].map((el) => "run=" + encodeURIComponent(el.value));
  location.href = "/compare?" + picked.join("&");
}
async function showCompare() {
  try {
    const d = await api("GET", "/api/compare" + location.search);
    lineChart(byId("chart-compare"), Object.entries(d.curves).map(([name, recs]) => ({name, points: series(recs, "loss")})));
    let html = "<thead><tr><th>run</th>" + d.keys.map((k) => `<th>${esc(k)}</th>`).join("") + "</tr></thead><tbody>";
    for (const row of d.table) html += `<tr><td>${esc(row.run)}</td>` + d.keys.map((k) => `<td>${row[k] == null ? "—" : (+row[k]).toPrecision(4)}</td>`).join("") + "</tr>";
    for (const [run, msg] of Object.entries(d.errors)) html += `<tr><td>${esc(run)}</td><td colspan="${d.keys.length || 1}" class="muted">${esc(msg)}</td></tr>`;
    byId("compare-table").innerHTML = html + "</tbody>";
    groupedBars(byId("chart-metrics"), d.keys, d.table);
  } catch (e) { showError(e); }
}

// -- data
async function openData() {
  const path = byId("data-path").value;
  try {
    const d = await api("GET", "/api/data?path=" + encodeURIComponent(path));
    const r = d.report, t = r.tokens || {};
    const formats = Object.entries(d.formats).map(([k, v]) => `${esc(k)} (${v})`).join(", ");
    byId("data-summary").innerHTML = `<table class="kv">
      <tr><th>file</th><td>${esc(d.path)}</td></tr>
      <tr><th>format</th><td id="data-format">${formats}</td></tr>
      <tr><th>records</th><td id="data-count">${r.records}</td></tr>
      <tr><th>valid</th><td>${r.valid}</td></tr>
      <tr><th>invalid</th><td>${esc(JSON.stringify(r.invalid))}</td></tr>
      <tr><th>tokens</th><td>min ${t.min ?? "—"} · mean ${t.mean != null ? (+t.mean).toFixed(1) : "—"} · max ${t.max ?? "—"} · over ${r.max_len}: ${r.over_max_len ?? 0}</td></tr>
      <tr><th>duplicates</th><td>exact ${r.duplicates.exact} · near ${r.duplicates.near}</td></tr></table>`;
    barChart(byId("chart-hist"), d.histogram);
    byId("data-preview").innerHTML = d.preview.map((rec) => `<div class="record"><div class="muted">line ${rec.line} · ${esc(rec.format)}</div><pre>` +
      rec.segments.map((s) => `<span class="${s.trained ? "trained" : ""}">${esc(s.text)}</span>`).join("") + "</pre></div>").join("");
    showError(null);
  } catch (e) { showError(e); }
}

// -- jobs (data prepare, eval, export)
async function startJob(kind, form) {
  try { await api("POST", "/api/jobs", {kind, form}); showError(null); watchJobs(); } catch (e) { showError(e); }
}
const cell = (v) => typeof v === "number" ? String(+v.toPrecision(4)) : (v !== null && typeof v === "object" ? JSON.stringify(v) : String(v ?? "—"));
function rowsTable(rows) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return `<table class="result"><tr>${keys.map((k) => `<th>${esc(k)}</th>`).join("")}</tr>` +
    rows.map((r) => `<tr>${keys.map((k) => `<td>${esc(cell(r[k]))}</td>`).join("")}</tr>`).join("") + "</table>";
}
// eval.json: its metrics; report.json of data prepare: its steps; export report: its rows;
// export_report.json: key / value
function resultTable(result) {
  if (!result) return "";
  const d = result.data;
  if (Array.isArray(d)) return rowsTable(d);
  if (d.metrics && typeof d.metrics === "object" && !Array.isArray(d.metrics)) return rowsTable([d.metrics]);
  if (Array.isArray(d.steps)) return rowsTable(d.steps);
  if (Array.isArray(d.rows)) return rowsTable(d.rows);
  return rowsTable(Object.entries(d).map(([key, value]) => ({key, value})));
}
let JOB_TIMER = null;
async function watchJobs() {
  const box = byId("jobs");
  clearTimeout(JOB_TIMER);
  try {
    const list = await api("GET", "/api/jobs?kind=" + box.dataset.kind);
    box.innerHTML = list.map((j) => `<div class="job" data-job="${esc(j.id)}"><p>${j.status === "finished" && j.output ? `<input type="checkbox" class="pick-eval" value="${esc(j.output)}"> ` : ""}<span class="status ${j.status}">${j.status}</span> <code>${esc(j.command)}</code> → ${esc(j.output || "")}</p>` +
      resultTable(j.result) + `<details ${j.status !== "finished" ? "open" : ""}><summary>log</summary><pre class="log">${esc(j.log)}</pre></details></div>`).join("") || '<p class="muted">none yet</p>';
    if (list.some((j) => j.status === "running")) JOB_TIMER = setTimeout(watchJobs, 1000);
  } catch (e) { showError(e); }
}

function compareEvals() {
  const picked = [...document.querySelectorAll(".pick-eval:checked")].map((el) => "run=" + encodeURIComponent(el.value));
  location.href = "/compare?" + picked.join("&");
}

// -- playground
let HISTORY = [];
function resetChat() { HISTORY = []; byId("chat-tuned").innerHTML = ""; byId("chat-base").innerHTML = ""; }
function bubble(side, role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  if (role === "assistant") div.innerHTML = '<details class="think" hidden><summary>reasoning</summary><div class="reasoning"></div></details><div class="content"></div>';
  else div.textContent = text;
  byId("chat-" + side).appendChild(div);
  return div;
}
async function sendChat() {
  const prompt = byId("pg-prompt").value.trim();
  if (!prompt) return;
  const compare = byId("pg-compare").checked;
  byId("base-col").hidden = !compare;
  const system = byId("pg-system").value.trim();
  HISTORY.push({role: "user", content: prompt});
  const messages = (system ? [{role: "system", content: system}] : []).concat(HISTORY);
  const sides = compare ? ["tuned", "base"] : ["tuned"];
  const out = {};
  for (const side of sides) { bubble(side, "user", prompt); out[side] = bubble(side, "assistant"); out[side].dataset.chunks = "0"; }
  const body = {model: byId("pg-model").value, messages, compare_base: compare,
    max_tokens: byId("pg-max").value, temperature: byId("pg-temp").value, top_p: byId("pg-topp").value,
    top_k: byId("pg-topk").value, seed: byId("pg-seed").value};
  byId("send-btn").disabled = true;
  try {
    const r = await fetch("/api/chat", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
    if (!r.ok) { const d = await r.json(); throw new Error(d.error.message); }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "", answer = "";
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true});
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
        const event = (block.match(/^event: (.*)$/m) || [])[1] || "message";
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [, "{}"])[1]);
        if (event === "error") throw new Error(data.message);
        if (event !== "message") continue;
        const el = out[data.side];
        el.dataset.chunks = String(+el.dataset.chunks + 1);
        if (data.reasoning) { const t = el.querySelector(".think"); t.hidden = false; t.querySelector(".reasoning").textContent += data.reasoning; }
        if (data.content) el.querySelector(".content").textContent += data.content;
        if (data.side === "tuned") answer += data.content;
        if (data.finish) el.dataset.finish = data.finish;
      }
    }
    HISTORY.push({role: "assistant", content: answer});
    showError(null);
  } catch (e) { HISTORY.pop(); showError(e); }
  byId("send-btn").disabled = false;
}
document.addEventListener("DOMContentLoaded", () => {
  const m = new URLSearchParams(location.search).get("model");
  if (m && byId("pg-model")) byId("pg-model").value = m;
});
