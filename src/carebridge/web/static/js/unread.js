// The signed-in person's unread messages, on every page: the count beside "Messages" in the menu
// (and on the phone's Menu button), and "(N) " before the page's title while N > 0. Asked of the
// server when the page loads and each time live.js (re)subscribes the person's own stream
// (user.<id>), then followed live from its "conversation.unread_count" events.
const badges = document.querySelectorAll("[data-messages-unread]");
const title = document.title.replace(/^\(\d+\) /, "");

function paint(count) {
  for (const badge of badges) {
    badge.textContent = count ? String(count) : "";
    badge.setAttribute("aria-label", `${count} unread${badge.id ? "" : " messages"}`);
    badge.hidden = !count;
  }
  document.title = count ? `(${count}) ${title}` : title;
}

async function load() {
  try {
    const response = await fetch("/conversations/unread", { credentials: "same-origin" });
    if (response.ok && !response.redirected) paint(Number(await response.text()) || 0);
  } catch {
    // Offline: the live stream brings the count when it is back.
  }
}

if (badges.length) {
  document.addEventListener("live:frame", (event) => {
    const frame = event.detail;
    if (!frame.topic?.startsWith("user.")) return;
    if (frame.type === "subscribed") load();
    else if (frame.type === "event" && frame.event === "conversation.unread_count") {
      paint(frame.data.total_unread);
    }
  });
  load();
}
