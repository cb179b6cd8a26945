// The real-time stream of signed-in pages: the bell updates as notifications arrive, and on the
// patient home the list of doctors online now follows every status change without a reload.
// Presence frames carry versions: a snapshot is merged with what is known, never older data
// over newer.
(() => {
  const RETRY_MAX = 30000;
  const STATUS_TEXT = { online: "Online now", busy: "In a consultation" };
  const versions = new Map();
  let socket = null;
  let delay = 1000;
  let userId = null;

  const csrf = () => document.querySelector("input[name=csrf_token]")?.value || "";
  const presenceList = () => document.querySelector("[data-live-presence]");

  function setState(text) {
    const state = document.getElementById("live-state");
    if (state) state.textContent = text;
  }

  function retry() {
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, RETRY_MAX);
  }

  async function connect() {
    let response;
    try {
      response = await fetch("/realtime/ticket", {
        method: "POST",
        headers: { "X-CSRF-Token": csrf() },
        credentials: "same-origin",
      });
    } catch {
      return retry();
    }
    if (response.redirected || response.status === 401 || response.status === 403) return;
    if (!response.ok) return retry();
    const body = await response.json();
    userId = body.user_id;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws?ticket=${encodeURIComponent(body.ticket)}`);
    socket.addEventListener("open", () => {
      delay = 1000;
      subscribeAll();
    });
    socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      setState("Reconnecting…");
      if (event.code !== 4401) retry(); // 4401: the session ended; nothing to reconnect to
    });
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function subscribeAll() {
    send({ type: "subscribe", topic: `user.${userId}` });
    if (presenceList()) send({ type: "subscribe", topic: "doctors.presence" });
  }

  function handle(frame) {
    if (frame.type === "ping") return send({ type: "pong" });
    if (frame.type === "resync") return subscribeAll();
    if (frame.type === "snapshot" && frame.topic === "doctors.presence") return applySnapshot(frame.data);
    if (frame.type === "subscribed" && frame.topic === "doctors.presence") return setState("Live");
    if (frame.type !== "event") return;
    if (frame.topic === "doctors.presence") applyPresence(frame.data);
    else if (frame.topic === `user.${userId}`) refreshBell(frame);
  }

  function refreshBell(frame) {
    const count = document.getElementById("bell-count");
    if (!count) return;
    if (frame.event === "notification.unread_count") {
      count.textContent = frame.data.unread ? String(frame.data.unread) : "";
    } else if (frame.event === "notification.created" && window.htmx) {
      window.htmx.ajax("GET", "/notifications/bell", { target: "#bell-count", swap: "innerHTML" });
    }
  }

  function applySnapshot(snapshot) {
    const list = presenceList();
    if (!list) return;
    const inSnapshot = new Set(snapshot.doctors.map((d) => d.doctor_id));
    for (const item of [...list.querySelectorAll("li[data-doctor-id]")]) {
      const id = item.dataset.doctorId;
      const known = versions.get(id) ?? Number(item.dataset.version || 0);
      if (!inSnapshot.has(id) && known <= snapshot.version) {
        item.remove();
        versions.delete(id);
      }
    }
    for (const doctor of snapshot.doctors) applyPresence(doctor, true);
    showEmpty();
  }

  function applyPresence(doctor, fromSnapshot = false) {
    const list = presenceList();
    if (!list) return;
    let item = list.querySelector(`li[data-doctor-id="${CSS.escape(doctor.doctor_id)}"]`);
    const known = versions.get(doctor.doctor_id) ?? Number(item?.dataset.version || 0);
    if (doctor.version < known || (!fromSnapshot && doctor.version === known)) return;
    versions.set(doctor.doctor_id, doctor.version);
    if (doctor.status === "offline") {
      item?.remove();
    } else {
      if (!item) item = newItem(list, doctor);
      item.dataset.version = String(doctor.version);
      const badge = item.querySelector(".presence-badge");
      badge.className = `presence-badge presence-${doctor.status}`;
      badge.textContent = STATUS_TEXT[doctor.status] || doctor.status;
    }
    showEmpty();
  }

  function newItem(list, doctor) {
    const item = document.createElement("li");
    item.dataset.doctorId = doctor.doctor_id;
    const link = document.createElement("a");
    link.href = `/doctors/${encodeURIComponent(doctor.doctor_id)}`;
    link.textContent = doctor.name;
    const badge = document.createElement("span");
    badge.className = "presence-badge";
    item.append(link, " ", badge);
    const after = [...list.children].find((other) => other.querySelector("a").textContent.localeCompare(doctor.name) > 0);
    list.insertBefore(item, after || null);
    return item;
  }

  function showEmpty() {
    const empty = document.getElementById("nobody-online");
    const list = presenceList();
    if (empty && list) empty.hidden = list.children.length > 0;
  }

  window.addEventListener("DOMContentLoaded", connect);
})();
