// The tracking page (/visits/{id}/track): the home and the nurse on a map, the distance and an
// arrival estimate, the status in words, all from the visit's topic (visit.<id>) through the
// page's socket (js/live.js). Each subscribe, the first and every one after a reconnect, brings
// a snapshot (status, last position, home) that replaces what the page shows; then `position`
// and `status` events keep it live.
import { distanceText, etaText, fit, follow, marker, place, visitMap } from "./visit-live-map.js";

const source = document.getElementById("track-data");
const data = source ? JSON.parse(source.textContent) : null;

if (data) {
  const map = visitMap(document.getElementById("track-map"), data.tiles);
  const status = document.getElementById("track-status");
  const distance = document.getElementById("track-distance");
  const eta = document.getElementById("track-eta");
  const tracked = new Set(data.tracked);
  let home = null;
  let nurse = null;
  let current = data.status;
  let lastAt = "";

  function setHome(point) {
    if (!point) return;
    if (!home) home = marker(map, point, "H", "home", "Home");
    place(home, point);
  }

  function showFigures(position) {
    if (!position || !tracked.has(current)) {
      distance.dataset.distanceM = "";
      eta.dataset.etaMinutes = "";
      distance.textContent = tracked.has(current) ? "Waiting for the nurse's position…" : "";
      eta.textContent = "";
      return;
    }
    distance.dataset.distanceM = position.distance_m ?? "";
    eta.dataset.etaMinutes = position.eta_minutes ?? "";
    if (current === "arrived") {
      distance.textContent = "At your door";
      eta.textContent = "";
    } else {
      distance.textContent = distanceText(position.distance_m);
      eta.textContent = position.eta_minutes === null || position.eta_minutes === undefined ? "" : `· arrival ${etaText(position.eta_minutes)}`;
    }
  }

  let lastPosition = null;

  function setPosition(position) {
    if (!position) {
      showFigures(null);
      return;
    }
    if (position.at && lastAt && position.at < lastAt) return; // an older one, late
    lastAt = position.at || lastAt;
    lastPosition = position;
    if (!nurse) nurse = marker(map, position, "N", "nurse", "The nurse");
    nurse.getElement()?.setAttribute("id", "nurse-marker");
    place(nurse, position);
    follow(map, [data.home, position]);
    showFigures(position);
  }

  function setStatus(value) {
    current = value;
    status.dataset.status = value;
    status.textContent = data.words[value] || value;
    showFigures(lastPosition);
  }

  setHome(data.home);
  fit(map, [data.home]);
  setStatus(data.status);
  setPosition(data.position);

  document.addEventListener("live:frame", (event) => {
    const frame = event.detail;
    if (frame.topic !== data.topic) return;
    if (frame.type === "snapshot") {
      if (frame.data.home) {
        data.home = frame.data.home;
        setHome(frame.data.home);
      }
      setStatus(frame.data.status);
      setPosition(frame.data.position);
    } else if (frame.type === "event" && frame.event === "position") {
      setPosition(frame.data);
    } else if (frame.type === "event" && frame.event === "status") {
      setStatus(frame.data.status);
    }
  });
  document.dispatchEvent(new CustomEvent("live:subscribe", { detail: { topic: data.topic } }));
}
