// The conversation page follows its topic: new messages appear, edits and deletions show, the
// typing line comes and goes, the sender's messages say "seen" once another member has read
// them (a message arriving while the page is in view is read at once); typing in the box tells the others (at most every 3 s). live.js owns the socket; this module asks it for the topic with
// the last sequence number the page has, so after a reconnect the server replays what was
// missed (in order) before live events. Text is set with textContent: never parsed as HTML.
// A message's files show as the page renders them (messaging/_message.html): a link to save each
// one, with an image's thumbnail, or "being checked" while the virus check has not answered.
// Scrolling to the top (or "Show older messages") inserts the 50 before the first one shown,
// rendered by the server, keeping in view what was in view. The file picker takes up to 5 files.

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

// A time as the server writes it on the page ("Sun 06 Dec 2026, 10:11 CET"), in the reader's
// time zone (the page's), whatever the browser's own.
function stamp(at) {
  try {
    const format = new Intl.DateTimeFormat("en-GB", {
      weekday: "short", day: "2-digit", month: "short", year: "numeric", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23", timeZone: page.dataset.zone, timeZoneName: "short",
    });
    const part = Object.fromEntries(format.formatToParts(new Date(at)).map((p) => [p.type, p.value]));
    return `${part.weekday} ${part.day} ${part.month} ${part.year}, ${part.hour}:${part.minute} ${part.timeZoneName}`;
  } catch {
    return new Date(at).toLocaleString();
  }
}

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
  when.textContent = stamp(message.created_at) + (message.edited_at ? " · edited" : "");
  if (mine) {
    const seen = document.createElement("span");
    seen.className = "seen";
    seen.dataset.seen = "";
    when.append(" ", seen);
  }
  const sender = document.createElement("strong");
  sender.textContent = names[message.sender_id] || "Someone";
  item.append(sender, " ", when, text);
  if (message.attachments?.length) item.append(fileList(message.attachments));
  lastSeq = Math.max(lastSeq, message.seq);
  paintSeen();
}

// Bytes as the server's template says them (Jinja's filesizeformat: 1 Byte, 12 Bytes, 3.4 kB).
function size(bytes) {
  if (bytes < 1000) return bytes === 1 ? "1 Byte" : `${bytes} Bytes`;
  const units = ["kB", "MB", "GB"];
  let unit = 0;
  while (unit < units.length - 1 && bytes >= 1000 ** (unit + 2)) unit += 1;
  return `${(bytes / 1000 ** (unit + 1)).toFixed(1)} ${units[unit]}`;
}

function fileList(files) {
  const list = document.createElement("ul");
  list.className = "attachments";
  for (const file of files) {
    const item = document.createElement("li");
    item.className = "attachment";
    item.dataset.attachmentId = file.id;
    const name = document.createElement("span");
    name.className = "attachment-name";
    name.textContent = file.filename;
    const note = document.createElement("small");
    note.className = "muted";
    note.textContent = size(file.size);
    if (file.downloadable) {
      const link = document.createElement("a");
      link.href = `/attachments/${encodeURIComponent(file.id)}`;
      link.download = "";
      link.className = "attachment-file";
      if (file.has_thumbnail) {
        const image = document.createElement("img");
        image.src = `${link.href}/thumbnail`;
        image.alt = "";
        image.width = file.width;
        image.height = file.height;
        image.loading = "lazy";
        link.append(image);
      }
      link.append(name);
      item.append(link, " ", note);
    } else {
      note.textContent += file.scan_state === "pending" ? " · being checked for viruses" : " · blocked by the virus check";
      item.append(name, " ", note);
    }
    list.append(item);
  }
  return list;
}

function paintSeen() {
  for (const item of list.querySelectorAll("li.mine")) {
    const seen = item.querySelector("[data-seen]");
    if (seen && Number(item.dataset.seq) <= seenUpTo) seen.textContent = "· seen";
  }
}

// Reading: another member's message that arrives while this page is in view is read (the
// sender sees "seen", the unread counts do not rise); one that arrives while the tab is hidden
// is read when the tab is shown again. One "read" frame per half second at most, with the
// highest number (the server never moves a read position back).
let readUpTo = 0;
let readTimer = null;

function markRead(seq) {
  readUpTo = Math.max(readUpTo, seq);
  if (document.visibilityState !== "visible" || readTimer) return;
  readTimer = setTimeout(() => {
    readTimer = null;
    const frame = { type: "read", conversation_id: page.dataset.conversationId, seq: readUpTo };
    document.dispatchEvent(new CustomEvent("live:send", { detail: frame }));
  }, 500);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && readUpTo) markRead(readUpTo);
});

document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (frame.topic !== topic || frame.type !== "event") return;
  if (frame.event.startsWith("message.")) render(frame.data);
  if (frame.event === "attachment.scanned") {
    // The virus check answered: the file's link (or "blocked") in place of "being checked".
    const shown = list?.querySelector(`li.attachment[data-attachment-id="${CSS.escape(frame.data.id)}"]`);
    if (shown) shown.replaceWith(fileList([frame.data]).firstElementChild);
  }
  if (frame.event === "message.created" && frame.data.sender_id !== page.dataset.userId && list) {
    markRead(frame.data.seq);
  }
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

// -- older messages ----------------------------------------------------------------------------

const older = document.getElementById("older");
const olderState = document.getElementById("older-state");
let loading = false;
let lastY = window.scrollY;

async function showOlder() {
  const first = list.firstElementChild;
  if (loading || !older || !first) return;
  loading = true;
  olderState.textContent = "Loading…";
  let response;
  try {
    response = await fetch(`${older.dataset.src}?before_seq=${first.dataset.seq}`, { credentials: "same-origin" });
  } catch {
    response = null;
  }
  if (!response?.ok || response.redirected) {
    location.href = older.href; // the page of older messages, as without JavaScript
    return;
  }
  const fragment = document.createElement("template");
  fragment.innerHTML = await response.text(); // our own page's items: the text already escaped
  const items = fragment.content.querySelector("ol");
  const fresh = [...items.children].filter((item) => !document.getElementById(item.id));
  const top = first.getBoundingClientRect().top;
  for (const item of fresh) list.insertBefore(item, first);
  const moved = first.getBoundingClientRect().top - top;
  window.scrollBy({ top: moved, behavior: "instant" }); // what was in view stays where it was
  lastY = window.scrollY;
  paintSeen();
  olderState.textContent = `${fresh.length} older messages shown.`;
  if (items.dataset.more === "true") {
    older.href = `${location.pathname}?before_seq=${list.firstElementChild.dataset.seq}`;
  } else { // the first message is shown: the link goes, the keyboard's focus stays nearby
    const focused = document.activeElement === older;
    older.remove();
    olderState.textContent += " This is the start of the conversation.";
    olderState.tabIndex = -1;
    if (focused) olderState.focus();
  }
  loading = false;
}

if (older) {
  older.addEventListener("click", (event) => {
    event.preventDefault();
    showOlder();
  });
  window.addEventListener("scroll", () => {
    const y = window.scrollY;
    if (y < lastY && y < 200 && older.isConnected) showOlder(); // up, near the top
    lastY = y;
  }, { passive: true });
}

// -- the file picker ---------------------------------------------------------------------------

const picker = document.getElementById("message-files");
const pickerError = document.getElementById("files-error");
picker?.addEventListener("change", () => {
  const most = Number(picker.dataset.max);
  const tooMany = picker.files.length > most;
  picker.setCustomValidity(tooMany ? `At most ${most} files can be sent with one message.` : "");
  pickerError.textContent = picker.validationMessage;
  pickerError.hidden = !tooMany;
});

if (page.dataset.live === "on") {
  document.dispatchEvent(new CustomEvent("live:subscribe", { detail: { topic, after: () => lastSeq } }));
}

// A closed conversation (by its doctor, or by completing the chat appointment held in it) is
// read-only at once: the form to write goes, the note says why.
document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (frame.topic !== topic || frame.type !== "event" || frame.event !== "conversation.closed") return;
  const state = document.getElementById("live-state");
  if (state && !document.getElementById("conversation-closed")) {
    // The header says it too, as the page does once reloaded.
    const closed = document.createElement("strong");
    closed.id = "conversation-closed";
    closed.textContent = `closed ${stamp(frame.data.closed_at)}`;
    state.before(closed, " · ");
  }
  const form = document.getElementById("message-form");
  if (!form) return;
  const note = document.createElement("p");
  note.className = "muted";
  note.id = "read-only";
  note.textContent = "This conversation is closed: it can be read, not written.";
  form.replaceWith(note);
});
