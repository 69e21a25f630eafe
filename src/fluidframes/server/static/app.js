// fluidframes studio: plain JS, no build step. Talks to /api (REST + server-sent events).
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const jobs = new Map();      // id -> job JSON
const pending = [];          // {file, li, state}
let config = null;

// ---- helpers -------------------------------------------------------------------------------
function withToken(url) {
  if (!TOKEN) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
  const resp = await fetch(path, Object.assign({}, opts, { headers }));
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try { msg = (await resp.json()).detail || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return resp.status === 204 ? null : resp.json();
}
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
function bytes(n) {
  const u = ["bytes", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function clock(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.round(s); const m = Math.floor(s / 60), h = Math.floor(m / 60);
  const pad = (x) => String(x).padStart(2, "0");
  return h ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
function fraction(text) {  // "30000/1001" -> 29.97
  if (!text) return NaN; const [a, b] = String(text).split("/").map(Number); return b ? a / b : a;
}

// ---- form ----------------------------------------------------------------------------------
async function loadConfig() {
  config = await api("/api/config");
  const model = $("#model");
  for (const m of config.models) model.append(el("option", { value: m }, m));
  model.value = config.default_model;
  const fmt = $("#format");
  for (const f of config.formats) fmt.append(el("option", { value: f }, f.toUpperCase()));
  $("#limit").textContent = "up to " + config.max_upload_text + " per file";
}

function optionFields() {
  const f = {};
  f.model = $("#model").value;
  if (document.querySelector("input[name=rate]:checked").value === "multi") f.multi = $("#multi").value;
  else f.fps = $("#fps").value.trim();
  f.slowmo = $("#slowmo").checked;
  f.scene_detect = $("#scene_detect").checked;
  f.montage = $("#montage").checked;
  f.format = $("#format").value;
  if (f.format !== "gif") f.crf = $("#crf").value;
  return f;
}

function addFiles(list) {
  for (const file of list) {
    const li = el("li", {}, el("span", { class: "name" }, file.name), el("span", { class: "muted" }, bytes(file.size)));
    const item = { file, li, state: "ready" };
    li.append(el("button", { class: "ghost", type: "button", onclick: () => {
      if (item.state === "uploading") return;
      pending.splice(pending.indexOf(item), 1); li.remove(); updateStart();
    } }, "✕"));
    if (config && file.size > config.max_upload) {
      li.append(el("span", { class: "err" }, "larger than " + config.max_upload_text));
      item.state = "error";
    }
    pending.push(item); $("#pending").append(li);
  }
  updateStart();
}
function updateStart() { $("#start").disabled = !pending.some((p) => p.state === "ready"); }

function upload(item, fields) {
  // XMLHttpRequest rather than fetch: it reports upload progress.
  return new Promise((resolve) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append("file", item.file, item.file.name);
    const xhr = new XMLHttpRequest();
    const status = el("span", { class: "muted" }, "uploading…");
    item.li.append(status);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) status.textContent = "uploading " + Math.round(100 * e.loaded / e.total) + "%"; };
    xhr.onload = () => {
      if (xhr.status === 201) {
        item.li.remove(); pending.splice(pending.indexOf(item), 1);
        upsert(JSON.parse(xhr.responseText));
      } else {
        let msg = xhr.status + " " + xhr.statusText;
        try { msg = JSON.parse(xhr.responseText).detail || msg; } catch (e) { /* not JSON */ }
        status.remove(); item.state = "error";
        item.li.append(el("span", { class: "err" }, msg));
      }
      resolve();
    };
    xhr.onerror = () => { status.textContent = ""; item.state = "error"; item.li.append(el("span", { class: "err" }, "upload failed (connection lost)")); resolve(); };
    xhr.open("POST", "/api/jobs");
    if (TOKEN) xhr.setRequestHeader("Authorization", "Bearer " + TOKEN);
    xhr.send(form);
  });
}

async function startAll(ev) {
  ev.preventDefault();
  const fields = optionFields();
  const todo = pending.filter((p) => p.state === "ready");
  todo.forEach((p) => (p.state = "uploading"));
  updateStart();
  for (const item of todo) await upload(item, fields);  // one at a time: keeps the disk calm
  updateStart();
}

// ---- jobs ----------------------------------------------------------------------------------
function describe(job) {
  const o = job.options, parts = [];
  if (o.fps) parts.push(o.fps + " fps"); else parts.push((o.multi || (o.exp ? 2 ** o.exp : 2)) + "×");
  if (o.slowmo) parts.push("slow motion");
  if (o.montage) parts.push("montage");
  if (o.scene_detect === false) parts.push("no scene detection");
  parts.push(o.model, job.format.toUpperCase());
  if (o.crf != null) parts.push("CRF " + o.crf);
  const s = job.source || {};
  if (s.width) parts.push(`${s.width}×${s.height} @ ${+fraction(s.fps).toFixed(3)} fps`);
  return parts.join(" · ");
}

function stats(job) {
  const p = job.progress;
  if (job.status === "queued") return "waiting for the worker";
  if (job.status === "done") {
    const sm = job.summary || {};
    return `${sm.frames_in} → ${sm.frames_out} frames · ${+fraction(sm.output_rate).toFixed(3)} fps · ` +
      `${(sm.output_duration || 0).toFixed(2)} s · made in ${clock(p.elapsed)} at ${p.fps.toFixed(1)} fps · ${bytes(job.result.size)}`;
  }
  const total = p.frames_total ? "/" + p.frames_total : "";
  if (job.status === "running" && !p.frames_out) return "starting (loading the model)…";
  return `frames ${p.frames_out}${total} · ${p.fps ? p.fps.toFixed(1) : "–"} fps · elapsed ${clock(p.elapsed)}` +
    (job.status === "running" ? ` · ETA ${p.eta == null ? "estimating…" : clock(p.eta)}` : "");
}

function card(job) {
  const actions = el("div", { class: "actions" });
  const act = (label, fn, cls = "ghost") => actions.append(el("button", { type: "button", class: cls, onclick: fn }, label));
  if (job.status === "queued" || job.status === "running") act("Cancel", () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).catch(alert));
  if (job.status === "done") {
    act("Preview", () => openViewer(job), "");
    actions.append(el("a", { class: "btn ghost", href: withToken(job.urls.result), download: job.result.name }, "Download"));
  }
  if (["failed", "cancelled", "interrupted", "done"].includes(job.status))
    act("Re-run", () => api(`/api/jobs/${job.id}/rerun`, { method: "POST" }).then(upsert).catch(alert));
  if (job.status !== "running") act("Delete", () => api(`/api/jobs/${job.id}`, { method: "DELETE" }).then(() => remove(job.id)).catch(alert), "danger");
  const pct = job.status === "done" ? 100 : (job.progress.percent || 0);
  return el("li", { class: "job " + job.status, "data-id": job.id, "data-status": job.status, "data-frames": job.progress.frames_out },
    el("div", { class: "top" },
      el("span", { class: "badge " + job.status }, job.status),
      el("span", { class: "name" }, job.filename), actions),
    el("div", { class: "opts" }, describe(job)),
    el("div", { class: "bar" }, Object.assign(el("div"), { style: `width:${pct}%` })),
    el("div", { class: "stats" }, stats(job)),
    job.error && job.status !== "cancelled" ? el("div", { class: "error", role: "alert" }, job.error) : null);
}

function upsert(job) {
  jobs.set(job.id, job);
  const old = document.querySelector(`.job[data-id="${job.id}"]`);
  const fresh = card(job);
  if (old) old.replaceWith(fresh); else $("#jobs").prepend(fresh);
  $("#empty").hidden = jobs.size > 0;
}
function remove(id) {
  jobs.delete(id);
  const old = document.querySelector(`.job[data-id="${id}"]`);
  if (old) old.remove();
  $("#empty").hidden = jobs.size > 0;
  if ($("#viewer").dataset.id === id) closeViewer();
}

function listen() {
  const es = new EventSource(withToken("/api/events"));
  es.addEventListener("open", () => $("#conn").classList.add("on"));
  es.addEventListener("error", () => $("#conn").classList.remove("on"));
  es.addEventListener("job", (e) => upsert(JSON.parse(e.data)));
  es.addEventListener("deleted", (e) => remove(JSON.parse(e.data).id));
}

// ---- side-by-side viewer ----------------------------------------------------------------------
const CODECS = { h264: "avc1.640028", hevc: "hvc1.1.6.L93.B0", vp9: "vp9", vp8: "vp8", av1: "av01.0.05M.08", mpeg4: "mp4v.20.9" };
function sourceType(job) {
  const s = job.source || {}, c = CODECS[s.codec];
  const ext = job.urls.source && (s.container || "");
  let mime = "video/mp4";
  if (ext.includes("webm") || ext.includes("matroska")) mime = s.codec === "vp8" || s.codec === "vp9" || s.codec === "av1" ? "video/webm" : "video/x-matroska";
  else if (ext.includes("gif")) return "image/gif";
  return c ? `${mime}; codecs="${c}"` : mime;
}
function setSources(video, first, firstType, fallback) {
  // The browser plays the first <source> it can; the WebM rendition is made only if it must.
  video.replaceChildren(el("source", { src: withToken(first), type: firstType }),
                        el("source", { src: withToken(fallback), type: 'video/webm; codecs="vp9"' }));
  video.load();
}
let syncing = null;
function openViewer(job) {
  const v = $("#viewer"), orig = $("#orig"), res = $("#res");
  v.hidden = false; v.dataset.id = job.id;
  $("#viewer-title").textContent = job.filename + " — " + describe(job);
  const dl = $("#viewer-download");
  dl.href = withToken(job.urls.result); dl.setAttribute("download", job.result.name);
  setSources(orig, job.urls.source, sourceType(job), job.urls.source_preview);
  const resType = job.format === "gif" ? "image/gif" : job.result.media_type;
  setSources(res, job.urls.result + "?inline=1", resType, job.urls.result_preview);
  const tempo = fraction((job.summary || {}).tempo) || 1;  // slow motion: the original runs slower
  if (syncing) syncing.abort();
  syncing = new AbortController();
  const o = { signal: syncing.signal };
  const follow = () => {
    const want = res.currentTime * tempo;
    if (Math.abs(orig.currentTime - want) > 0.08) orig.currentTime = Math.min(want, orig.duration || want);
  };
  res.addEventListener("play", () => { orig.playbackRate = res.playbackRate * tempo; follow(); orig.play().catch(() => {}); }, o);
  res.addEventListener("pause", () => { orig.pause(); follow(); }, o);
  res.addEventListener("seeked", follow, o);
  res.addEventListener("ratechange", () => { orig.playbackRate = res.playbackRate * tempo; }, o);
  res.addEventListener("timeupdate", follow, o);
  res.addEventListener("ended", () => orig.pause(), o);
  v.scrollIntoView({ behavior: "smooth", block: "start" });
}
function closeViewer() {
  const v = $("#viewer"); v.hidden = true; delete v.dataset.id;
  for (const id of ["#orig", "#res"]) { const x = $(id); x.pause(); x.replaceChildren(); x.load(); }
  if (syncing) syncing.abort();
}

// ---- start ---------------------------------------------------------------------------------
window.addEventListener("DOMContentLoaded", async () => {
  const drop = $("#drop"), input = $("#files");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) drop.addEventListener(t, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); addFiles(e.dataTransfer.files); });
  $("#crf").addEventListener("input", () => ($("#crf-out").textContent = "CRF " + $("#crf").value));
  $("#format").addEventListener("change", () => ($("#crf").disabled = $("#format").value === "gif"));
  $("#options").addEventListener("submit", startAll);
  $("#viewer-close").addEventListener("click", closeViewer);
  try {
    await loadConfig();
    for (const job of (await api("/api/jobs")).reverse()) upsert(job);
  } catch (e) {
    $("#empty").textContent = "Cannot reach the server: " + e.message;
  }
  listen();
});
