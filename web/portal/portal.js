// The public catalog: live now, coming up, on demand (GET /api/catalog, docs/API.md).
import { formatTime, i18n, setUp } from "/portal/common.js";

const PAGE_SIZE = 12;
const form = document.getElementById("filters");
let vodPage = 0;
let lists = { live: null, upcoming: null, vod: null };

function filters() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (String(value).trim()) params.set(name, String(value).trim());
  }
  return params;
}

async function load(status, offset, limit) {
  const params = filters();
  params.set("status", status);
  params.set("offset", String(offset));
  params.set("limit", String(limit));
  const res = await fetch(`/api/catalog?${params}`);
  if (!res.ok) throw new Error((await res.json()).error || res.statusText);
  return res.json();
}

function card(item) {
  const li = document.createElement("li");
  li.className = "card";
  li.dataset.id = item.id;
  const link = document.createElement(item.playlist_url ? "a" : "div");
  if (item.playlist_url) {
    link.href = `/portal/player.html?id=${encodeURIComponent(item.id)}&kind=${item.status}`;
  }
  if (item.poster_url) {
    const img = document.createElement("img");
    img.src = item.poster_url;
    img.alt = "";
    img.loading = "lazy";
    link.append(img);
  } else if (item.status !== "upcoming") {
    const none = document.createElement("div");
    none.className = "noposter";
    link.append(none);
  }
  const body = document.createElement("div");
  body.className = "body";
  const title = document.createElement("h3");
  // Begun (the judge came in) but not on air: said to be in session, with nothing to play, as
  // the courts' public portals show it, not passed off as one still to come.
  const badgeKey = item.status !== "upcoming" ? item.status : item.started_at ? "in_session" : null;
  if (badgeKey) {
    const badge = document.createElement("span");
    badge.className = `badge ${badgeKey}`;
    badge.textContent = i18n.t(`portal.badge.${badgeKey}`);
    title.append(badge);
  }
  title.append(item.title);
  const lines = [
    item.case_number,
    item.court,
    i18n.t("portal.scheduled", { time: formatTime(item.scheduled_at) }),
  ];
  if (item.status === "vod" && item.duration != null) {
    lines.push(i18n.t("portal.duration", { minutes: Math.max(1, Math.round(item.duration / 60)) }));
  }
  // One line each; a court's name is never broken inside (too long for the card, it ends in "…").
  body.append(title, ...lines.map((text) => Object.assign(document.createElement("p"), { textContent: text, title: text })));
  link.append(body);
  li.append(link);
  return li;
}

function render(status) {
  const ul = document.getElementById(status);
  const data = lists[status];
  ul.replaceChildren();
  if (data === null) return;
  if (data.error) {
    ul.append(Object.assign(document.createElement("li"), { className: "empty", textContent: i18n.t("portal.error") }));
    return;
  }
  if (!data.items.length) {
    ul.append(Object.assign(document.createElement("li"), { className: "empty", textContent: i18n.t("portal.empty") }));
  }
  ul.append(...data.items.map(card));
  if (status === "vod") {
    const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
    document.getElementById("page").textContent = i18n.t("portal.page", { page: vodPage + 1, pages });
    document.getElementById("prev").disabled = vodPage === 0;
    document.getElementById("next").disabled = vodPage + 1 >= pages;
  }
}

async function refresh(which = ["live", "upcoming", "vod"]) {
  await Promise.all(
    which.map(async (status) => {
      try {
        const offset = status === "vod" ? vodPage * PAGE_SIZE : 0;
        lists[status] = await load(status, offset, status === "vod" ? PAGE_SIZE : 50);
      } catch (err) {
        lists[status] = { error: String(err) };
      }
      render(status);
    }),
  );
  document.body.dataset.loaded = "1";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  vodPage = 0;
  refresh();
});
document.getElementById("prev").addEventListener("click", () => {
  vodPage = Math.max(0, vodPage - 1);
  refresh(["vod"]);
});
document.getElementById("next").addEventListener("click", () => {
  vodPage += 1;
  refresh(["vod"]);
});

await setUp();
i18n.onChange(() => ["live", "upcoming", "vod"].forEach(render));
await refresh();
// Live streams start and end during the day: keep "live now" current.
setInterval(() => refresh(["live", "upcoming"]), 30000);
