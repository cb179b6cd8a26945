// The session panel of an appointment's conversation (messaging/_session.html). While the
// consultation is in progress the time left counts down to its planned end. The panel is fetched
// again from the server, which decides what it offers, whenever the appointment may have changed:
// a member moved it (session.changed), the conversation closed, the start time came, or the
// socket subscribed again after a reconnect (events missed meanwhile are not replayed).
// conversation.js subscribes to the topic; this module only listens.

const page = document.getElementById("conversation");
const topic = `conversation.${page.dataset.conversationId}`;
const DAY = 24 * 60 * 60 * 1000;
let subscriptions = 0;
let startTimer = null;

const panel = () => document.getElementById("session");

function paint() {
  const left = panel()?.querySelector("[data-ends-at]");
  if (!left) return;
  const ms = Date.parse(left.dataset.endsAt) - Date.now();
  left.textContent = ms > 0 ? `${Math.ceil(ms / 60000)} min left` : "time is up";
}

function watchStart() {
  clearTimeout(startTimer);
  const from = panel()?.dataset.startFrom;
  const wait = from ? Date.parse(from) - Date.now() : NaN;
  // Never sooner than in 5 s: a clock ahead of the server's would otherwise ask again and again.
  if (wait < DAY) startTimer = setTimeout(refresh, Math.max(5000, wait + 1000));
}

async function refresh() {
  const current = panel();
  if (!current) return;
  let response;
  try {
    response = await fetch(current.dataset.url, { credentials: "same-origin", headers: { accept: "text/html" } });
  } catch {
    return;
  }
  if (!response.ok) return;
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  const fresh = template.content.getElementById("session");
  if (!fresh) return;
  panel()?.replaceWith(fresh);
  paint();
  watchStart();
}

document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (frame.topic !== topic) return;
  if (frame.type === "subscribed" && subscriptions++ > 0) refresh();
  if (frame.type === "event" && (frame.event === "session.changed" || frame.event === "conversation.closed")) refresh();
});

paint();
watchStart();
setInterval(paint, 5000);
