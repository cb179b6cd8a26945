// The inbox's unread badges follow the person's own stream (user.<id>, which live.js hands on as
// "live:frame" events): each new message or read moves its conversation's badge and the total.
// A conversation not on the page (a new one) shows on the next load.

const total = document.getElementById("inbox-unread");

document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (frame.type !== "event" || frame.event !== "conversation.unread_count") return;
  const { conversation_id: id, unread, total_unread: all } = frame.data;
  const badge = document.querySelector(`#conversation-${CSS.escape(id)} .unread-badge`);
  if (badge) {
    badge.textContent = unread ? String(unread) : "";
    badge.setAttribute("aria-label", `${unread} unread`);
    badge.hidden = !unread;
  }
  if (total) {
    total.querySelector("strong").textContent = String(all);
    total.hidden = !all;
  }
});
