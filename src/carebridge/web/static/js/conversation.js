// The conversation page follows its topic: new messages appear, edits and deletions show, the
// typing line comes and goes, the sender's messages say "seen" once another member has read
// them; typing in the box tells the others (at most every 3 s). live.js owns the socket; this module asks it for the topic with
// the last sequence number the page has, so after a reconnect the server replays what was
// missed (in order) before live events. Text is set with textContent: never parsed as HTML.

const page = document.getElementById("conversation");
const box = document.querySelector("#message-form textarea");
const names = JSON.parse(page.dataset.names || "{}");
let seenUpTo = 0;
let lastTyping = 0;
const list = document.getElementById("messages");
const typing = document.getElementById("typing");
const topic = `conversation.${page.dataset.conversationId}`;
let lastSeq = Number(page.dataset.lastSeq || 0);
let typingTimer = null;

function render(message) {
  let item = document.getElementById(`message-${message.seq}`);
  if (!item) {
    item = document.createElement("li");
    item.id = `message-${message.seq}`;
    item.dataset.seq = String(message.seq);
    item.className = "message";
    const later = [...list.children].find((li) => Number(li.dataset.seq) > message.seq);
    list.insertBefore(item, later || null);
  }
  const mine = message.sender_id === page.dataset.userId;
  item.classList.toggle("mine", mine);
  item.replaceChildren();
  const text = document.createElement("p");
  text.className = "message-text";
  if (message.state === "ok") text.textContent = message.text;
  else {
    const note = document.createElement("em");
    note.textContent = message.state === "deleted" ? "message deleted" : "this message could not be read";
    text.append(note);
  }
  const when = document.createElement("small");
  when.className = "muted";
  when.textContent = new Date(message.created_at).toLocaleString() + (message.edited_at ? " · edited" : "");
  if (mine) {
    const seen = document.createElement("span");
    seen.className = "seen";
    seen.dataset.seen = "";
    when.append(" ", seen);
  }
  const sender = document.createElement("strong");
  sender.textContent = names[message.sender_id] || "Someone";
  item.append(sender, " ", when, text);
  lastSeq = Math.max(lastSeq, message.seq);
  paintSeen();
}

function paintSeen() {
  for (const item of list.querySelectorAll("li.mine")) {
    const seen = item.querySelector("[data-seen]");
    if (seen && Number(item.dataset.seq) <= seenUpTo) seen.textContent = "· seen";
  }
}

document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (frame.topic !== topic || frame.type !== "event") return;
  if (frame.event.startsWith("message.")) render(frame.data);
  if (frame.event === "read" && frame.data.user_id !== page.dataset.userId) {
    seenUpTo = Math.max(seenUpTo, frame.data.last_read_seq);
    paintSeen();
  }
  if (frame.event === "typing" && frame.data.user_id !== page.dataset.userId) {
    typing.textContent = "Typing…";
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { typing.textContent = ""; }, frame.data.expires_in * 1000);
  }
});

box?.addEventListener("input", () => {
  const now = Date.now();
  if (now - lastTyping < 3000) return;
  lastTyping = now;
  const conversationId = page.dataset.conversationId;
  document.dispatchEvent(new CustomEvent("live:send", { detail: { type: "typing", conversation_id: conversationId } }));
});

if (page.dataset.live === "on") {
  document.dispatchEvent(new CustomEvent("live:subscribe", { detail: { topic, after: () => lastSeq } }));
}

// A closed conversation (by its doctor, or by completing the chat appointment held in it) is
// read-only at once: the form to write goes, the note says why.
document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (frame.topic !== topic || frame.type !== "event" || frame.event !== "conversation.closed") return;
  const form = document.getElementById("message-form");
  if (!form) return;
  const note = document.createElement("p");
  note.className = "muted";
  note.id = "read-only";
  note.textContent = "This conversation is closed: it can be read, not written.";
  form.replaceWith(note);
});
