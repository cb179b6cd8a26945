// The doctor's "Waiting for you" list (templates/calls/_waiting.html) follows the doctor's own
// topic: on each `call.waiting` event (someone came into, was admitted from or left the waiting
// room of one of their calls) the list is asked again from the server (GET /calls/waiting), so
// it is rendered in one place; also on every "subscribed" of that topic (after a reconnect,
// what was missed). A list kept to one appointment (data-call-waiting="<id>") ignores the others.
//
// live.js owns the socket and hands every frame of the person's own topic to page modules as
// "live:frame" events on document.

const section = document.querySelector("[data-call-waiting]");
const only = section?.dataset.callWaiting || "";
let asking = null;
let again = false;

async function reload() {
  if (asking) {
    again = true; // one more read once this one is in: never an older list over a newer one
    return;
  }
  const query = only ? `?appointment_id=${encodeURIComponent(only)}` : "";
  asking = fetch(`/calls/waiting${query}`, { credentials: "same-origin", headers: { Accept: "text/html" } });
  try {
    const response = await asking;
    if (response.ok && !response.redirected) {
      document.getElementById("call-waiting-list").innerHTML = await response.text();
    }
  } catch {
    // offline: the next event or reconnect reads it again
  } finally {
    asking = null;
    if (again) {
      again = false;
      reload();
    }
  }
}

document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (!section || !frame.topic?.startsWith("user.")) return;
  if (frame.type === "subscribed") {
    section.dataset.live = "on"; // what comes from now on arrives by the socket
    return reload();
  }
  if (frame.type !== "event" || frame.event !== "call.waiting") return;
  if (only && frame.data?.appointment_id !== only) return;
  reload();
});
