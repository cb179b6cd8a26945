// The home visit maps (Leaflet, vendored from npm), one per [data-visit-map] element:
// - "pick" (the request form): a click or "Use my location" places the home and fills the
//   form's latitude and longitude fields; typing in them moves the point;
// - "show" (a visit's page): the home;
// - "board" (the dispatcher's board): the visits to assign and the nurses on duty, read from
//   the board's JSON (#board-data) each time the board is refreshed; "Place it on the map"
//   (a visit without a point) makes the next click the visit's point, sent with the assignment.
// Tiles only when the server names a tile URL; without them the points sit on a blank
// background and clicks still place points.
import * as L from "../vendor/leaflet/leaflet-src.esm.js";

const COLOURS = { home: "#0f766e", visit: "#d97706", nurse: "#2563eb", base: "#64748b" };
// On the board the points are labelled in sight: without tiles, a label is all a point has.
const LABEL = { permanent: true, direction: "right", offset: [8, 0] };

function number(value) {
  const parsed = Number.parseFloat(value);
  return Number.isFinite(parsed) ? parsed : null;
}

function dot(latlng, colour, radius = 8) {
  return L.circleMarker(latlng, { radius, color: colour, weight: 2, fillColor: colour, fillOpacity: 0.6 });
}

// A map opened at `view` ([lat, lng], zoom), else at the clinic's area, else the world.
function openMap(element, view = null) {
  const map = L.map(element, { attributionControl: Boolean(element.dataset.tileUrl) });
  if (element.dataset.tileUrl) {
    L.tileLayer(element.dataset.tileUrl, {
      attribution: element.dataset.tileAttribution || "",
      maxZoom: 19,
    }).addTo(map);
  }
  const centre = [number(element.dataset.centreLat), number(element.dataset.centreLng)];
  if (view) map.setView(view[0], view[1], { animate: false });
  else if (centre[0] !== null && centre[1] !== null) map.setView(centre, 12, { animate: false });
  else map.setView([20, 0], 2, { animate: false });
  return map;
}

function round(value) {
  return Math.round(value * 1e6) / 1e6;
}

function pick(element) {
  const form = element.closest("form") || document;
  const lat = form.querySelector("[data-lat-input]");
  const lng = form.querySelector("[data-lng-input]");
  const first = [number(lat.value), number(lng.value)];
  const map = openMap(element, first[0] !== null && first[1] !== null ? [first, 15] : null);
  const status = form.querySelector("[data-location-status]");
  let marker = null;

  function place(latlng, { move = true } = {}) {
    if (marker) marker.setLatLng(latlng);
    else marker = dot(latlng, COLOURS.home, 10).addTo(map).bindTooltip("Your home");
    if (move) map.setView(latlng, Math.max(map.getZoom(), 15));
  }

  function fill(latlng) {
    lat.value = String(round(latlng.lat));
    lng.value = String(round(latlng.lng));
    place(latlng, { move: false });
    if (status) status.textContent = `Placed at ${lat.value}, ${lng.value}.`;
  }

  const typed = () => {
    const at = [number(lat.value), number(lng.value)];
    if (at[0] !== null && at[1] !== null) place(at);
  };
  typed();
  lat.addEventListener("change", typed);
  lng.addEventListener("change", typed);
  map.on("click", (event) => fill(event.latlng));

  const button = form.querySelector("[data-use-location]");
  if (!button) return;
  if (!("geolocation" in navigator)) {
    button.hidden = true;
    return;
  }
  button.addEventListener("click", () => {
    if (status) status.textContent = "Finding your location…";
    navigator.geolocation.getCurrentPosition(
      (position) => {
        const latlng = L.latLng(position.coords.latitude, position.coords.longitude);
        fill(latlng);
        map.setView(latlng, 16, { animate: false });
        if (status) {
          const metres = Math.round(position.coords.accuracy);
          status.textContent = `Placed at your location (within about ${metres} m). Move it with a tap if needed.`;
        }
      },
      (error) => {
        if (status) {
          status.textContent = error.code === error.PERMISSION_DENIED
            ? "Location not shared: tap the map or type the coordinates instead."
            : "Your location could not be found: tap the map instead.";
        }
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  });
}

function show(element) {
  const at = [number(element.dataset.lat), number(element.dataset.lng)];
  if (at[0] === null || at[1] === null) return;
  const map = openMap(element, [at, 15]);
  dot(at, COLOURS.home, 10).addTo(map).bindTooltip("Home");
}

function board(element) {
  const map = openMap(element);
  const layer = L.layerGroup().addTo(map);
  const placed = new Map(); // visit id -> its point placed by the dispatcher
  const status = document.querySelector("[data-place-status]");
  let placing = null;
  let fitted = false;

  function draw() {
    const source = document.getElementById("board-data");
    if (!source) return;
    const data = JSON.parse(source.textContent || "{}");
    layer.clearLayers();
    const points = [];
    for (const visit of data.visits || []) {
      dot([visit.lat, visit.lng], COLOURS.visit).bindTooltip(visit.label, LABEL).addTo(layer);
      points.push([visit.lat, visit.lng]);
    }
    for (const nurse of data.nurses || []) {
      const colour = nurse.kind === "position" ? COLOURS.nurse : COLOURS.base;
      const where = nurse.kind === "position" ? "last position" : "base";
      dot([nurse.lat, nurse.lng], colour, 6).bindTooltip(`${nurse.name} (${where})`, LABEL).addTo(layer);
      points.push([nurse.lat, nurse.lng]);
    }
    for (const [id, latlng] of placed) {
      dot(latlng, COLOURS.visit, 10).bindTooltip("Placed by you").addTo(layer);
      points.push([latlng.lat, latlng.lng]);
      fillPlaced(id, latlng);
    }
    if (!fitted && points.length) {
      map.fitBounds(L.latLngBounds(points).pad(0.2), { maxZoom: 14, animate: false });
      fitted = true;
    }
  }

  function fillPlaced(id, latlng) {
    for (const input of document.querySelectorAll(`[data-place-lat="${id}"]`)) input.value = String(round(latlng.lat));
    for (const input of document.querySelectorAll(`[data-place-lng="${id}"]`)) input.value = String(round(latlng.lng));
    for (const note of document.querySelectorAll(`[data-place-note="${id}"]`)) {
      note.textContent = `Placed at ${round(latlng.lat)}, ${round(latlng.lng)}: assign a nurse to keep it.`;
    }
  }

  map.on("click", (event) => {
    if (!placing) return;
    placed.set(placing, event.latlng);
    if (status) status.textContent = "Point placed: choose the nurse to assign.";
    placing = null;
    element.classList.remove("placing");
    draw();
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-place-visit]");
    if (!button) return;
    placing = button.dataset.placeVisit;
    element.classList.add("placing");
    if (status) status.textContent = "Click the map where the visit's address is.";
    element.scrollIntoView({ behavior: "smooth", block: "center" });
  });
  // The board's lists are swapped in anew by htmx: draw their points, fill placed points into
  // a suggestion panel that just arrived.
  document.body.addEventListener("htmx:afterSwap", draw);
  draw();
}

const MODES = { pick, show, board };
for (const element of document.querySelectorAll("[data-visit-map]")) {
  MODES[element.dataset.visitMap]?.(element);
}
