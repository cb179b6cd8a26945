// The real-time stream of signed-in pages: the bell updates as notifications arrive, and page
// modules get the topics they ask for. A module asks with
//   document.dispatchEvent(new CustomEvent("live:subscribe", { detail: { topic } }))
// and receives that topic's frames (snapshot and events) as "live:frame" events on document;
// after a reconnect every topic is subscribed again, so its snapshot comes again. A topic that
// replays (a conversation) is asked with `after: () => <last sequence number the page has>`, sent
// as `after_seq` on every subscribe, so what was missed while away is replayed. A module sends a
// frame of its own with a "live:send" event (its detail is the frame). Page modules
// load after this script (it comes first in the page's head), so their requests are heard.
(() => {
  const RETRY_MAX = 30000;
  const topics = new Map(); // topic -> its cursor (a function), or null
  let socket = null;
  let delay = 1000;
  let userId = null;

  const csrf = () => document.querySelector("input[name=csrf_token]")?.value || "";

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
    for (const topic of topics.keys()) subscribe(topic);
  }

  function subscribe(topic) {
    const after = topics.get(topic);
    send(after ? { type: "subscribe", topic, after_seq: after() } : { type: "subscribe", topic });
  }

  // A page module's own frames (a conversation's "typing"): sent when the socket is open,
  // dropped otherwise (nothing a page sends this way must arrive).
  document.addEventListener("live:send", (event) => send(event.detail));

  document.addEventListener("live:subscribe", (event) => {
    const topic = event.detail?.topic;
    if (!topic || topics.has(topic)) return;
    topics.set(topic, event.detail.after || null);
    subscribe(topic);
  });

  function handle(frame) {
    if (frame.type === "ping") return send({ type: "pong" });
    if (frame.type === "resync") return subscribeAll();
    if (topics.has(frame.topic)) {
      if (frame.type === "subscribed") setState("Live");
      document.dispatchEvent(new CustomEvent("live:frame", { detail: frame }));
    } else if (frame.topic === `user.${userId}`) {
      if (frame.type === "event") refreshBell(frame);
      // The person's own stream is every page's: modules listen for its frames too (the inbox's
      // unread badges; the menu's count, asked again on each "subscribed": after a reconnect).
      document.dispatchEvent(new CustomEvent("live:frame", { detail: frame }));
    }
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

  window.addEventListener("DOMContentLoaded", connect);
})();
