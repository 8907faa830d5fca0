// The player: hls.js where the browser has Media Source Extensions, else the browser's own HLS
// (Safari on older iPhones). Live streams retry while the playlist is not there yet.
import { formatTime, i18n, setUp } from "/portal/common.js";

const params = new URLSearchParams(location.search);
const id = params.get("id") || "";
const kind = params.get("kind") === "vod" ? "vod" : "live";
const src = `/${kind}/${encodeURIComponent(id)}/index.m3u8`;
const video = document.getElementById("video");
const state = document.getElementById("state");
// Live: play 2 s behind the newest public second instead of hls.js' default 3 target durations:
// a publisher's frame is on screen ~3–4 s after it was sent instead of 5–9 s
// (docs/LIVESTREAM.md, `python -m benchmarks.livestream --player`). A player that fell behind
// catches up by playing up to 10 % faster, and jumps only when more than 6 s behind; every stall
// adds a second to its target (hls.js' liveSyncOnStallIncrease), so a weak network settles
// further back by itself.
const HLS_CONFIG = {
  lowLatencyMode: false,
  liveSyncDuration: 2,
  liveMaxLatencyDuration: 6,
  maxLiveSyncPlaybackRate: 1.1,
};
let stateKey = "player.loading";
let hls = null;
let hearing = null;

function show(key) {
  stateKey = key;
  state.textContent = i18n.t(key);
}

async function describe() {
  const res = await fetch(`/api/hearings/${encodeURIComponent(id)}`);
  if (!res.ok) {
    show("player.notfound");
    return false;
  }
  hearing = await res.json();
  describeHearing();
  return true;
}

// In the page's language, the date too; again after each switch.
function describeHearing() {
  if (!hearing) return;
  document.getElementById("title").textContent = hearing.title;
  // Each part whole on its line: a court's name is never broken inside.
  const parts = [hearing.case_number, hearing.court, formatTime(hearing.started_at || hearing.scheduled_at)];
  document.getElementById("meta").replaceChildren(
    ...parts.flatMap((text, i) => [...(i ? [" · "] : []), Object.assign(document.createElement("span"), { textContent: text })]),
  );
  document.title = i18n.t("player.tab", { title: hearing.title });
}

function playWithHlsJs() {
  window.playerEngine = "hls.js";
  hls = new window.Hls(HLS_CONFIG);
  hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
    video.play().catch(() => {});
  });
  hls.on(window.Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    show("player.unavailable");
    if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
      hls.recoverMediaError();
      return;
    }
    // The playlist is not there yet (stream starting) or the network dropped: try again.
    hls.destroy();
    setTimeout(playWithHlsJs, 3000);
  });
  hls.loadSource(src);
  hls.attachMedia(video);
}

function playNatively() {
  window.playerEngine = "native";
  video.src = src;
  video.addEventListener("error", () => {
    show("player.unavailable");
    setTimeout(() => {
      video.src = src;
      video.play().catch(() => {});
    }, 3000);
  });
  video.play().catch(() => {});
}

video.addEventListener("playing", () => show("player.playing"));
video.addEventListener("ended", () => show("player.ended"));

await setUp();
i18n.onChange(() => {
  show(stateKey);
  describeHearing();
});
show("player.loading");
if (await describe()) {
  if (window.Hls && window.Hls.isSupported()) {
    playWithHlsJs();
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    playNatively();
  } else {
    show("player.unsupported");
  }
}
