// Doctors' status badges (templates/presence/_badge.html) follow the doctors.presence topic:
// every badge on the page, by doctor id, whether it came with the page or later through htmx.
// The topic's snapshot (every doctor online or busy, and the highest version) and its events are
// merged by version, never older news over newer: a doctor missing from the snapshot is offline
// unless a badge already shows something newer. On the patient home the "online now" list
// (data-live-presence) also gains and loses doctors.
//
// live.js owns the socket: this module asks it for the topic with a "live:subscribe" event and
// gets the topic's frames as "live:frame" events.

const TOPIC = "doctors.presence";
const LABELS = { online: "Online now", busy: "In a consultation", offline: "Offline" }; // as _badge.html
const known = new Map(); // doctor id -> { status, version, name }
let snapshotVersion = null; // null until the first snapshot

function badgesIn(root) {
  const found = [...root.querySelectorAll("[data-presence-badge]")];
  if (root.matches?.("[data-presence-badge]")) found.push(root);
  return found;
}

function latest(doctorId) {
  return known.get(doctorId) ?? (snapshotVersion === null ? null : { status: "offline", version: 0 });
}

function paint(badge) {
  const state = latest(badge.dataset.doctorId);
  if (!state) return;
  const own = Number(badge.dataset.version || 0);
  // Absent from the snapshot: offline, unless the badge was read after the snapshot was.
  const newer = known.has(badge.dataset.doctorId) ? state.version >= own : own <= snapshotVersion;
  if (!newer) return;
  if (state.version) badge.dataset.version = String(state.version);
  if (badge.dataset.status === state.status) return;
  badge.classList.remove(`presence-${badge.dataset.status}`);
  badge.classList.add(`presence-${state.status}`);
  badge.dataset.status = state.status;
  badge.textContent = LABELS[state.status] || state.status;
}

function remember(doctor) {
  const held = known.get(doctor.doctor_id);
  if (held && held.version > doctor.version) return false;
  known.set(doctor.doctor_id, { status: doctor.status, version: doctor.version, name: doctor.name });
  return true;
}

function applySnapshot(snapshot) {
  const listed = new Set(snapshot.doctors.map((doctor) => doctor.doctor_id));
  for (const [id, state] of known) {
    if (!listed.has(id) && state.version <= snapshot.version) known.delete(id);
  }
  for (const doctor of snapshot.doctors) remember(doctor);
  snapshotVersion = snapshot.version;
  refresh(document);
}

function applyEvent(doctor) {
  if (remember(doctor)) refresh(document);
}

function refresh(root) {
  for (const badge of badgesIn(root)) paint(badge);
  const list = document.querySelector("[data-live-presence]");
  if (list) onlineList(list);
}

// The patient home's "Doctors online now": an item per doctor online or busy, by name.
function onlineList(list) {
  for (const item of [...list.querySelectorAll("li[data-doctor-id]")]) {
    if (item.querySelector("[data-presence-badge]")?.dataset.status === "offline") item.remove();
  }
  for (const [id, state] of known) {
    if (state.status === "offline" || list.querySelector(`li[data-doctor-id="${CSS.escape(id)}"]`)) continue;
    const item = newItem(list, id, state);
    if (item) paint(item.querySelector("[data-presence-badge]"));
  }
  const empty = document.getElementById("nobody-online");
  if (empty) empty.hidden = list.children.length > 0;
}

function newItem(list, id, state) {
  const template = document.getElementById("online-doctor-template");
  if (!template) return null;
  const item = template.content.firstElementChild.cloneNode(true);
  item.dataset.doctorId = id;
  const link = item.querySelector("a");
  link.href = `/doctors/${encodeURIComponent(id)}`;
  link.textContent = state.name;
  item.querySelector("[data-presence-badge]").dataset.doctorId = id;
  const after = [...list.children].find((other) => other.querySelector("a").textContent.localeCompare(state.name) > 0);
  list.insertBefore(item, after || null);
  return item;
}

document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (frame.topic !== TOPIC) return;
  if (frame.type === "snapshot") applySnapshot(frame.data);
  else if (frame.type === "event") applyEvent(frame.data);
});
// Badges that arrive later (htmx swaps: a doctor's page, the next page of results).
document.addEventListener("htmx:load", (event) => refresh(event.detail.elt));
document.dispatchEvent(new CustomEvent("live:subscribe", { detail: { topic: TOPIC } }));
