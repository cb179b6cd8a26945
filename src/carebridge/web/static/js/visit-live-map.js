// The maps of the nurse's pages and the tracking page (Leaflet, vendored from npm). Tiles come
// from CAREBRIDGE_MAP_TILE_URL when it is set; without them the map is a blank background with
// its markers, which still shows where the nurse is against the home. Markers are small labelled
// discs (a number, "H" for the home, "N" for the nurse): text, so they need no image.
import * as L from "../vendor/leaflet/leaflet-src.esm.js";

const CLOSE_ZOOM = 16;

export function visitMap(element, tiles) {
  const withTiles = Boolean(tiles && tiles.url);
  const map = L.map(element, { attributionControl: withTiles, zoomSnap: 0.5 });
  if (withTiles) {
    L.tileLayer(tiles.url, { attribution: tiles.attribution || "", maxZoom: 19 }).addTo(map);
  } else {
    element.classList.add("no-tiles");
  }
  map.setView([0, 0], 2);
  return map;
}

export function pin(text, kind, label) {
  const disc = document.createElement("span");
  disc.textContent = text;
  return L.divIcon({
    className: `map-pin map-pin-${kind}`,
    html: disc,
    iconSize: [32, 32],
    iconAnchor: [16, 16],
  });
}

export function marker(map, point, text, kind, label) {
  // The nurse above the home when they meet at the door.
  const zIndexOffset = kind === "nurse" ? 1000 : 0;
  const made = L.marker([point.lat, point.lng], { icon: pin(text, kind, label), title: label, keyboard: false, zIndexOffset });
  made.addTo(map);
  const element = made.getElement();
  if (element) {
    element.setAttribute("role", "img");
    element.setAttribute("aria-label", label);
  }
  return made;
}

// Move a marker, and say where it is on its element (data-lat, data-lng): tests and assistive
// text read them.
export function place(made, point) {
  made.setLatLng([point.lat, point.lng]);
  const element = made.getElement();
  if (element) {
    element.dataset.lat = String(point.lat);
    element.dataset.lng = String(point.lng);
  }
}

// Show every point given (the home and the nurse, or the day's visits).
export function fit(map, points) {
  const shown = points.filter(Boolean).map((p) => [p.lat, p.lng]);
  if (shown.length === 0) return;
  if (shown.length === 1) {
    map.setView(shown[0], CLOSE_ZOOM);
  } else {
    map.fitBounds(L.latLngBounds(shown), { padding: [40, 40], maxZoom: 17 });
  }
}

// Keep the home and the nurse in view as the nurse comes closer: the map zooms in when both
// would fit a closer view (so the two markers part rather than overlap), and out when the
// nurse leaves it. Without animation, so a marker stands where its position says at once.
export function follow(map, points) {
  const shown = points.filter(Boolean);
  if (shown.length < 2) return fit(map, shown);
  const bounds = L.latLngBounds(shown.map((p) => [p.lat, p.lng]));
  const zoom = Math.min(map.getBoundsZoom(bounds, false, L.point(80, 80)), 17);
  if (!map.getBounds().contains(bounds) || zoom - map.getZoom() >= 1) {
    map.fitBounds(bounds, { padding: [40, 40], maxZoom: 17, animate: false });
  }
}

// "1.2 km away", "350 m away"
export function distanceText(metres) {
  if (metres === null || metres === undefined) return "";
  if (metres >= 1000) return `${(metres / 1000).toFixed(1)} km away`;
  return `${Math.max(0, Math.round(metres / 10) * 10)} m away`;
}

// "about 4 min", "arriving now"
export function etaText(minutes) {
  if (minutes === null || minutes === undefined) return "";
  if (minutes <= 0) return "arriving now";
  if (minutes >= 60) {
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return `about ${hours} h${rest ? ` ${rest} min` : ""}`;
  }
  return `about ${minutes} min`;
}
