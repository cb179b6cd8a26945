// The nurse's active visit (/nurse/visits/{id}): the home and the nurse's own position on a map,
// and "Share my location", which watches the device's position (navigator.geolocation) while
// the visit is on the way or at the door and sends it over the page's socket (js/live.js) as a
// `position` frame, at most once per CAREBRIDGE_VISIT_POSITION_SECONDS. The page is subscribed
// to the visit's topic: the server's `position` event, for the position it stored, says how far
// the home is and whether it is `near` (within CAREBRIDGE_VISIT_ARRIVAL_METERS), and near, the
// page offers "Arrived". A `status` event of a move made elsewhere (a dispatcher cancelled)
// reloads the page, whose buttons are the server's.
import { distanceText, fit, follow, marker, place, visitMap } from "./visit-live-map.js";

const source = document.getElementById("visit-data");
const data = source ? JSON.parse(source.textContent) : null;

if (data) {
  const map = visitMap(document.getElementById("visit-map"), data.tiles);
  const tracked = new Set(data.tracked);
  const interval = Math.max(0.5, Number(data.interval_seconds) || 5) * 1000 + 250;
  const shareButton = document.getElementById("share-location");
  const shareState = document.getElementById("share-state");
  const myDistance = document.getElementById("my-distance");
  const offer = document.getElementById("arrived-offer");
  const arrivedButton = document.getElementById("move-button-arrived");
  const arrivedForm = document.getElementById("move-arrived");
  const remember = `visit-share-${data.visit_id}`;
  let me = null;
  let watch = null;
  let latest = null; // the device's last position: {lat, lng, accuracy_m}
  let sentAt = 0;
  let sentLatest = null; // the position last sent
  let confirmed = true; // the server published the position last sent
  let timer = null;
  let leaving = false;

  if (data.home) marker(map, data.home, "H", "home", "The patient's home");
  fit(map, [data.home, data.position]);

  function say(text) {
    if (shareState) shareState.textContent = text;
  }

  function showMe(point) {
    if (!me) me = marker(map, point, "N", "nurse", "You");
    me.getElement()?.setAttribute("id", "my-marker");
    place(me, point);
    follow(map, [data.home, point]);
  }

  function offerArrival(near) {
    if (!arrivedButton) return;
    arrivedButton.dataset.near = String(near);
    arrivedButton.classList.toggle("outline", !near);
    arrivedButton.classList.toggle("near", near);
    if (offer) offer.hidden = !near;
    if (near && offer) arrivedButton.scrollIntoView({ block: "nearest" });
  }

  // The server's word on a stored position (its event on the visit's topic, or the snapshot).
  function heard(position) {
    if (!position) return;
    confirmed = true;
    if (!latest) showMe(position);
    if (myDistance) {
      myDistance.dataset.distanceM = position.distance_m ?? "";
      myDistance.dataset.near = String(Boolean(position.near));
      myDistance.textContent = position.near ? "You are at the address." : position.distance_m == null ? "" : `The home is ${distanceText(position.distance_m)}.`;
    }
    offerArrival(Boolean(position.near));
  }

  function send() {
    timer = null;
    if (!latest || !tracked.has(data.status)) return;
    const wait = sentAt + interval - Date.now();
    if (wait > 0) {
      timer = setTimeout(send, wait);
      return;
    }
    if (latest === sentLatest && confirmed) return; // nothing new to tell
    sentAt = Date.now();
    sentLatest = latest;
    confirmed = false;
    document.dispatchEvent(new CustomEvent("live:send", { detail: { type: "position", visit_id: data.visit_id, ...latest } }));
    // Sent on a socket that was down, or refused: sent again at the next turn.
    timer = setTimeout(send, interval);
  }

  function moved(found) {
    const c = found.coords;
    latest = { lat: c.latitude, lng: c.longitude, accuracy_m: Math.round(c.accuracy * 10) / 10 };
    showMe(latest);
    if (arrivedForm) {
      arrivedForm.elements.lat.value = String(latest.lat);
      arrivedForm.elements.lng.value = String(latest.lng);
      arrivedForm.elements.accuracy_m.value = String(latest.accuracy_m);
    }
    say(`Sharing your location (within ${Math.round(c.accuracy)} m).`);
    if (!timer) send();
  }

  function failed(error) {
    const words = {
      1: "Location is blocked for this site: allow it in the browser's settings to share it.",
      2: "Your position cannot be found right now.",
      3: "Finding your position took too long; still trying.",
    };
    say(words[error.code] || "Your position cannot be found right now.");
  }

  function start() {
    if (watch !== null || !navigator.geolocation || !tracked.has(data.status)) return;
    watch = navigator.geolocation.watchPosition(moved, failed, { enableHighAccuracy: true, maximumAge: 2000, timeout: 20000 });
    sessionStorage.setItem(remember, "1");
    shareButton?.setAttribute("aria-pressed", "true");
    if (shareButton) shareButton.textContent = "Stop sharing";
    say("Finding your position…");
  }

  function stop() {
    if (watch !== null) navigator.geolocation.clearWatch(watch);
    watch = null;
    sessionStorage.removeItem(remember);
    shareButton?.setAttribute("aria-pressed", "false");
    if (shareButton) shareButton.textContent = "Share my location";
    say("Your location is not shared.");
  }

  shareButton?.addEventListener("click", () => (watch === null ? start() : stop()));

  // Setting off shares the location from the next page on; leaving the page is not a move made
  // elsewhere.
  document.getElementById("move-en_route")?.addEventListener("submit", () => sessionStorage.setItem(remember, "1"));
  for (const form of document.querySelectorAll(".move-form")) form.addEventListener("submit", () => (leaving = true));

  async function resume() {
    if (!tracked.has(data.status) || !navigator.geolocation) return;
    let granted = false;
    try {
      granted = (await navigator.permissions.query({ name: "geolocation" })).state === "granted";
    } catch {
      granted = false;
    }
    if (granted || sessionStorage.getItem(remember) === "1") start();
  }

  document.addEventListener("live:frame", (event) => {
    const frame = event.detail;
    if (frame.topic !== data.topic) return;
    if (frame.type === "snapshot") {
      if (frame.data.status !== data.status && !leaving) location.reload();
      heard(frame.data.position);
    } else if (frame.type === "event" && frame.event === "position") {
      heard(frame.data);
    } else if (frame.type === "event" && frame.event === "status" && frame.data.status !== data.status && !leaving) {
      location.reload();
    }
  });
  document.dispatchEvent(new CustomEvent("live:subscribe", { detail: { topic: data.topic } }));
  heard(data.position);
  resume();
}
