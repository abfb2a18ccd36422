const $ = (s) => document.querySelector(s);
let lastOk = null, hitNodes = new Map();
function el(tag, cls, text) {
  const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function iso(t) { return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC"; }
function ago(t, now) {
  const s = Math.max(0, Math.round(now - t)), f = (n, unit) => Math.floor(s / n) + unit + " ago";
  return s < 60 ? s + " s ago" : s < 3600 ? f(60, " min") : s < 86400 ? f(3600, " h") : f(86400, " d");
}
function when(t, now, cls) {
  const e = el("td", cls, t == null ? "never" : ago(t, now)); if (t != null) e.title = iso(t); return e;
}
function fill(id, rows) { $(id + " tbody").replaceChildren(...rows); $(id + "-empty").hidden = rows.length > 0; }
function hitNode(h) {
  const d = el("div", "hit"); d.dataset.jobId = h.job_id;
  const m = el("div", "meta"), f = el("span", "fetched"); f.title = iso(h.fetched);
  const u = el("a", "url", h.url || "(no URL)"); u.href = h.url; u.rel = "noopener noreferrer";
  if (!h.url || !["http:", "https:"].includes(u.protocol)) u.removeAttribute("href");
  const field = (label, value) => { const s = el("span"); s.append(el("small", "", label + " "), value); return s; };
  m.append(field("site", el("span", "site", h.site_id)), field("worker", el("span", "worker", h.worker_id)),
    field("ad", el("span", "ad", h.ad_id)), field("fetched", f), field("folder", el("span", "folder", h.folder)),
    field("page", u));
  const t = el("div", "thumbs");
  for (const src of h.images) {
    const a = el("a"), i = el("img"); a.href = src; i.src = src; i.alt = src.split("/").pop();
    a.append(i); t.append(a);
  }
  d.append(m, t); return d;
}
function render(p) {
  const now = p.taken_at;
  $("#queue-depth").textContent = p.queued; $("#running").textContent = p.running;
  const kinds = Object.assign({yes: 0, no: 0, error: 0, dead: 0}, p.results);
  $("#results").replaceChildren(...Object.entries(kinds).map(([k, n]) => {
    const s = el("span", "result", k + ": " + n); s.dataset.kind = k; return s; }));
  fill("#workers", p.workers.map((w) => {
    const tr = el("tr"); tr.dataset.workerId = w.worker_id;
    const st = el("td", "state"); st.append(el("span", "badge state-" + w.state, w.state));
    tr.append(el("td", "id", w.worker_id), el("td", "addr", w.host + ":" + w.port), st,
      when(w.last_sent, now, "last-sent"), when(w.last_result, now, "last-result"),
      when(w.last_heartbeat, now, "last-heartbeat"),
      el("td", "load", w.running + "/" + w.capacity), el("td", "done", w.jobs_done));
    return tr; }));
  const seen = new Map();
  const hits = p.hits.map((h) => {
    let key = [h.job_id, h.worker_id, h.site_id, h.folder, h.url, ...h.images].join("\n");
    while (seen.has(key)) key += "+";
    const d = hitNodes.get(key) || hitNode(h);
    d.querySelector(".fetched").textContent = ago(h.fetched, now);
    seen.set(key, d); return d; });
  hitNodes = seen; $("#hits-list").replaceChildren(...hits); $("#hits-empty").hidden = hits.length > 0;
  fill("#dead", p.dead.map((j) => {
    const tr = el("tr"); tr.dataset.jobId = j.job_id;
    tr.append(el("td", "job", j.job_id), el("td", "url", j.url), el("td", "ad", j.ad_id),
      el("td", "site", j.site_id), el("td", "attempts", j.attempts), el("td", "reason", j.reason),
      when(j.failed_at, now, "failed-at"));
    return tr; }));
}
function tick() {
  $("#updated").textContent = lastOk === null ? "never" :
    lastOk.toISOString().slice(11, 19) + " UTC (" + ago(lastOk / 1000, Date.now() / 1000) + ")";
}
async function poll() {
  const abort = new AbortController(), timer = setTimeout(() => abort.abort(), 5000);
  try {
    const r = await fetch("api/pool", {cache: "no-store", signal: abort.signal});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    lastOk = new Date(); document.body.classList.remove("down");
  } catch (e) {
    document.body.classList.add("down");
    $("#error").textContent = "The orchestrator does not answer (" + (e.name === "AbortError" ?
      "no answer within 5 s" : e.message) + "); showing the last data received. Retrying every 2 s.";
  } finally { clearTimeout(timer); tick(); setTimeout(poll, 2000); }
}
setInterval(tick, 1000); poll();
