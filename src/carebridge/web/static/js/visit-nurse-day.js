// The nurse's day (/nurse/visits): the visits on a map, numbered in visit order as the list is;
// a marker's popup links to its visit. The points come from the JSON the page embeds.
import { fit, marker, visitMap } from "./visit-live-map.js";

const source = document.getElementById("day-data");
const data = source ? JSON.parse(source.textContent) : null;

if (data) {
  const map = visitMap(document.getElementById("day-map"), data.tiles);
  for (const point of data.points) {
    const made = marker(map, point, String(point.number), "visit", point.label);
    const link = document.createElement("a");
    link.href = point.url;
    link.textContent = point.label;
    made.bindPopup(link);
    made.getElement()?.setAttribute("data-number", String(point.number));
  }
  fit(map, data.points);
}
