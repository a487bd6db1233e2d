// The regulator's dashboard: vanilla JS and inline SVG, no CDN (the collector may have no
// internet). Data comes from the collector's own API; text from the API is set with
// textContent, never parsed as HTML.
"use strict";

const KEY = new URLSearchParams(location.search).get("key");
const COLORS = ["#0b5d5e", "#d1495b", "#edae49", "#3d5a80", "#66a182", "#8d6a9f", "#6c757d"];
const I18N = {
  fr: {
    title: "Qualité du haut débit au Maroc", metric: "Mesure", groupBy: "Par",
    operator: "Opérateur", technology: "Technologie", region: "Région", all: "Tous",
    overTime: "Médiane par heure", regions: "Régions", probes: "Sondes",
    down: "Débit desc. (Mbit/s)", rtt: "Latence (ms)", below: "Sous le seuil",
    health: "État des sondes", probe: "Sonde", status: "État", lastSeen: "Vue",
    live: "En direct", records: "Mesures", time: "Heure", kind: "Type", values: "Valeurs",
    context: "Contexte d'accès", noData: "Aucune donnée", lang: "العربية",
    active: "active", late: "en retard", silent: "muette", never: "jamais vue",
    presence: "Connexion", online: "en ligne", offline: "hors ligne",
  },
  ar: {
    title: "جودة الإنترنت ذي النطاق العريض في المغرب", metric: "المقياس", groupBy: "حسب",
    operator: "المشغل", technology: "التكنولوجيا", region: "الجهة", all: "الكل",
    overTime: "الوسيط لكل ساعة", regions: "الجهات", probes: "المجسات",
    down: "سرعة التنزيل (ميغابت/ث)", rtt: "زمن الاستجابة (مللي ثانية)", below: "تحت العتبة",
    health: "حالة المجسات", probe: "المجس", status: "الحالة", lastSeen: "آخر ظهور",
    live: "مباشر", records: "القياسات", time: "الوقت", kind: "النوع", values: "القيم",
    context: "سياق الوصول", noData: "لا توجد بيانات", lang: "Français",
    active: "نشط", late: "متأخر", silent: "صامت", never: "لم يظهر",
    presence: "الاتصال", online: "متصل", offline: "غير متصل",
  },
};
// Share of tests below this is shown per region (a "slow line" for the regulator).
const THRESHOLD = { down_mbps: 30, up_mbps: 5, rtt_ms: 50, loaded_rtt_ms_down: 100,
                    loaded_rtt_ms_up: 100 };

let lang = "fr";
let meta = null;
const $ = (id) => document.getElementById(id);

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) url.searchParams.set(k, v);
  const response = await fetch(url, { headers: KEY ? { "X-API-Key": KEY } : {} });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function t(key) { return I18N[lang][key] ?? key; }

function label(kind, code) {
  const names = meta?.[kind]?.[code];
  return names ? names[lang] : code ?? "—";
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function filters() {
  return { technology: $("technology").value, operator: $("operator").value };
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function drawChart(groups, unit) {
  const box = $("chart");
  box.replaceChildren();
  $("legend").replaceChildren();
  if (!groups.length) { box.append(el("p", t("noData"), { class: "empty" })); return; }
  const W = 900, H = 260, L = 50, R = 10, T = 24, B = 30;
  const times = [...new Set(groups.map((g) => Date.parse(g.bucket)))].sort((a, b) => a - b);
  const max = Math.max(...groups.map((g) => g.median)) * 1.1 || 1;
  const x = (ms) => L + (times.length > 1 ? (ms - times[0]) / (times.at(-1) - times[0]) : 0.5)
                          * (W - L - R);
  const y = (v) => H - B - (v / max) * (H - T - B);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%" });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e7eb" }));
    const tick = svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" });
    tick.textContent = v.toFixed(v < 10 ? 1 : 0);
    chart.append(tick);
  }
  for (const [ms, anchor] of [[times[0], "start"], [times.at(-1), "end"]]) {
    const tick = svg("text", { x: x(ms), y: H - 8, "text-anchor": anchor });
    tick.textContent = new Date(ms).toISOString().slice(5, 16).replace("T", " ");
    chart.append(tick);
  }
  const unitText = svg("text", { x: L, y: 12 });
  unitText.textContent = unit;
  chart.append(unitText);
  const byGroup = new Map();
  for (const g of groups) {
    if (!byGroup.has(g.group)) byGroup.set(g.group, []);
    byGroup.get(g.group).push(g);
  }
  const kind = { operator: null, region: "regions", technology: "technologies" }[$("group").value];
  [...byGroup.keys()].sort().forEach((name, i) => {
    const color = COLORS[i % COLORS.length];
    const points = byGroup.get(name).map((g) => `${x(Date.parse(g.bucket))},${y(g.median)}`);
    chart.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: color,
                                   "stroke-width": 2, "data-group": name ?? "" }));
    const item = el("li", kind ? label(kind, name) : name ?? "—", { "data-group": name ?? "" });
    item.style.setProperty("--c", color);
    $("legend").append(item);
  });
  box.append(chart);
}

async function refreshChart() {
  const metric = $("metric").value;
  $("metric-label").textContent = `${meta.metrics[metric][lang]} (${meta.metrics[metric].unit})`;
  const body = await api("/api/v1/aggregates", { metric, group_by: $("group").value,
                                                 bucket: "hour", ...filters() });
  drawChart(body.groups, body.unit);
}

function fmt(v) { return v == null ? "—" : Number(v).toFixed(v < 10 ? 1 : 0); }

async function refreshRegions(probes) {
  const f = filters();
  const [down, rtt] = await Promise.all([
    api("/api/v1/aggregates", { metric: "down_mbps", group_by: "region", ...f,
                                threshold: THRESHOLD.down_mbps }),
    api("/api/v1/aggregates", { metric: "rtt_ms", group_by: "region", ...f }),
  ]);
  const by = (body) => Object.fromEntries(body.groups.map((g) => [g.group, g]));
  const d = by(down), r = by(rtt);
  const rows = Object.keys(meta.regions).map((code) => {
    const tr = el("tr", null, { "data-region": code });
    const count = probes.filter((p) => p.region === code
      && (!f.technology || p.technology === f.technology)
      && (!f.operator || p.operator === f.operator)).length;
    const share = d[code]?.share_below;
    tr.append(el("td", label("regions", code)), el("td", String(count)),
              el("td", fmt(d[code]?.median)), el("td", fmt(r[code]?.median)),
              el("td", share == null ? "—" : `${Math.round(share * 100)} %`));
    return tr;
  });
  $("regions").tBodies[0].replaceChildren(...rows);
  drawMap(d);
}

// A tile map: one tile per region, placed roughly where the region lies (north at the top,
// the Atlantic to the west), coloured by the median download speed. Not to scale, on purpose.
const TILES = {
  "MA-01": [2, 0], "MA-04": [1, 1], "MA-03": [2, 1], "MA-02": [3, 1], "MA-06": [1, 2],
  "MA-05": [2, 2], "MA-08": [3, 2], "MA-07": [1, 3], "MA-09": [2, 3], "MA-10": [1, 4],
  "MA-11": [0, 5], "MA-12": [0, 6],
};

function drawMap(byRegion) {
  const size = 64, gap = 4;
  const medians = Object.values(byRegion).map((g) => g.median);
  const max = Math.max(...medians, 1);
  const map = svg("svg", { viewBox: `0 0 ${4 * (size + gap)} ${7 * (size + gap)}`,
                           width: "170", id: "map-svg" });
  for (const [code, [col, row]] of Object.entries(TILES)) {
    const median = byRegion[code]?.median;
    // Red (slow) to green (fast) relative to the fastest region; grey when nothing measured.
    const fill = median == null ? "#d9dee3" : `hsl(${Math.round((median / max) * 120)}, 55%, 48%)`;
    const tile = svg("g", { "data-region": code });
    const box = svg("rect", { x: col * (size + gap), y: row * (size + gap), width: size,
                              height: size, rx: 6, fill });
    const title = svg("title", {});
    title.textContent = `${label("regions", code)}: ${fmt(median)} Mbit/s`;
    const text = svg("text", { x: col * (size + gap) + size / 2, y: row * (size + gap) + 26,
                               "text-anchor": "middle" });
    text.textContent = code.slice(3);
    const value = svg("text", { x: col * (size + gap) + size / 2, y: row * (size + gap) + 44,
                                "text-anchor": "middle" });
    value.textContent = fmt(median);
    tile.append(box, title, text, value);
    map.append(tile);
  }
  $("map").replaceChildren(map);
}

function refreshProbes(probes) {
  const rows = probes.map((p) => {
    const tr = el("tr", null, { class: "clickable", "data-probe": p.probe });
    tr.append(el("td", p.probe), el("td", p.operator ?? "—"),
              el("td", label("technologies", p.technology)),
              el("td", t(p.status), { class: `status-${p.status}` }),
              el("td", p.presence ? t(p.presence) : "—", { title: p.presence_reason ?? "" }),
              el("td", p.last_seen ? p.last_seen.slice(0, 16).replace("T", " ") : "—"));
    tr.addEventListener("click", () => drill(p.probe));
    return tr;
  });
  $("probes").tBodies[0].replaceChildren(...rows);
}

function summary(map) {
  return Object.entries(map ?? {})
    .filter(([, v]) => typeof v !== "object" || v === null)
    .map(([k, v]) => `${k}=${v}`).join(", ");
}

function contextText(context) {
  return Object.entries(context ?? {}).map(([k, v]) => `${k}: ${summary(v)}`).join(" · ");
}

async function drill(probe) {
  const page = await api("/api/v1/records", { probe, limit: 50 });
  $("drill").hidden = false;
  $("drill-probe").textContent = probe;
  const rows = page.items.slice().reverse().map((r) => {
    const tr = el("tr");
    tr.append(el("td", r.time.slice(0, 19).replace("T", " ")), el("td", r.kind),
              el("td", summary(r.values)), el("td", contextText(r.context)));
    return tr;
  });
  $("drill-records").tBodies[0].replaceChildren(...rows);
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = t("lang");
  for (const option of $("metric").options) option.textContent = meta.metrics[option.value][lang];
  for (const option of $("technology").options) {
    if (option.value) option.textContent = label("technologies", option.value);
  }
}

let generation = 0;

async function refreshAll() {
  // Only the latest refresh may mark the page ready: an earlier one may finish after it.
  const mine = ++generation;
  document.body.dataset.ready = "false";
  const probes = await api("/api/v1/probes");
  refreshProbes(probes);
  await Promise.all([refreshChart(), refreshRegions(probes)]);
  if (mine === generation) document.body.dataset.ready = "true";
}

function live() {
  const url = new URL("/api/v1/feed", location.origin);
  if (KEY) url.searchParams.set("api_key", KEY);
  const source = new EventSource(url);
  source.addEventListener("record", () => {
    $("live-count").textContent = String(Number($("live-count").textContent) + 1);
  });
}

async function main() {
  meta = await api("/api/v1/meta");
  for (const name of Object.keys(meta.metrics)) $("metric").append(el("option", null, { value: name }));
  for (const code of Object.keys(meta.technologies)) {
    $("technology").append(el("option", null, { value: code }));
  }
  const probes = await api("/api/v1/probes");
  for (const operator of [...new Set(probes.map((p) => p.operator).filter(Boolean))].sort()) {
    $("operator").append(el("option", operator, { value: operator }));
  }
  applyLanguage();
  for (const id of ["metric", "group", "technology", "operator"]) {
    $(id).addEventListener("change", refreshAll);
  }
  $("lang").addEventListener("click", () => {
    lang = lang === "fr" ? "ar" : "fr";
    applyLanguage();
    refreshAll();
  });
  await refreshAll();
  live();
}

main().catch((err) => {
  document.body.dataset.error = String(err);
  document.querySelector("main").prepend(el("p", String(err), { class: "empty" }));
});
