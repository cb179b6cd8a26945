// The call page (calls/call.html): joins the appointment's call and runs the signaling protocol
// of docs/calls.md ("The protocol") over the page's real-time stream (live.js owns the socket:
// "live:subscribe", "live:frame", "live:send"). A mesh: one RTCPeerConnection per other peer,
// a video tile each. Who offers: a peer that comes into the call offers to everyone already in
// it; those answer. ICE restarts are the pair's offerer's (on "failed", "disconnected" for 2 s,
// the window's "online" event, a change of navigator.connection). Every 5 s (waiting too: it is
// the heartbeat) the page posts what getStats() says. No library; text set with textContent.

const root = document.getElementById("call");
const appointmentId = root.dataset.appointmentId;
const host = root.dataset.host === "true";
const STORE = `carebridge.call.${appointmentId}`; // this tab had joined: a reload joins again
const STATS_EVERY = 5000;
const DISCONNECTED_GRACE = 2000;
const $ = (id) => document.getElementById(id);

const state = {
  me: null, // my peer: {id, state, admitted_at, ...}
  config: null, // RTCConfiguration from the join answer
  participants: new Map(), // peer id -> participant (waiting or in the call)
  peers: new Map(), // peer id -> {pc, offerer, tile, pending, timer, lastLost, lastReceived}
  local: new MediaStream(),
  screen: null, // the shared screen's track
  peerTopicReady: false,
  offered: false,
  statsTimer: null,
  marks: {}, // Date.now() of the moments the tests time: join, admit, firstFrame
};
window.carebridgeCall = {
  state,
  peers: state.peers,
  restartIce: () => restartAll(),
  stats: () => peerStats(),
};

const csrf = () => document.querySelector("input[name=csrf_token]")?.value || "";
const roomTopic = () => `call.${appointmentId}`;
const peerTopic = () => `call.${appointmentId}.${state.me?.id}`;

function say(text) {
  const status = $("call-status");
  status.textContent = text || "";
  status.hidden = !text;
}

function stamp(at) {
  try {
    return new Intl.DateTimeFormat("en-GB", {
      weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZone: root.dataset.zone, timeZoneName: "short",
    }).format(new Date(at));
  } catch {
    return new Date(at).toLocaleString();
  }
}

async function api(action, body = {}) {
  let response;
  try {
    response = await fetch(`/appointments/${appointmentId}/call/${action}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, data: { detail: "The network is down; try again." } };
  }
  const text = await response.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { detail: text }; }
  return { ok: response.ok, status: response.status, data };
}

// Why a join (or another move) was refused, in words.
function refusal(problem) {
  switch (problem.code) {
    case "call_not_open":
      return `The call is not open yet: it opens at ${stamp(problem.opens_at)}.`;
    case "call_closed":
      return "The call is closed: the appointment is over.";
    case "call_ended":
      return "The doctor ended this call. You can join again when the doctor opens it again.";
    case "call_full":
      return "The call is full.";
    default:
      return problem.detail || "Something went wrong; try again.";
  }
}

// -- local media ----------------------------------------------------------------------------------

function localTrack(kind) {
  return kind === "video" ? state.local.getVideoTracks()[0] || null : state.local.getAudioTracks()[0] || null;
}

async function startMedia() {
  const wanted = [{ video: true, audio: true }, { video: true }, { audio: true }];
  for (const constraints of wanted) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      for (const track of stream.getTracks()) state.local.addTrack(track);
      break;
    } catch {
      // try with less
    }
  }
  if (!state.local.getTracks().length) say("No camera or microphone could be used: you will see and hear the others only.");
  $("self-view").srcObject = state.local;
  await listDevices();
}

async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [kind, select] of [["videoinput", $("camera-select")], ["audioinput", $("microphone-select")]]) {
    const current = localTrack(kind === "videoinput" ? "video" : "audio")?.getSettings().deviceId;
    select.replaceChildren();
    for (const device of devices.filter((d) => d.kind === kind)) {
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || (kind === "videoinput" ? "Camera" : "Microphone");
      option.selected = device.deviceId === current;
      select.append(option);
    }
    select.disabled = select.options.length === 0;
  }
}

function sendersOf(kind) {
  const senders = [];
  for (const peer of state.peers.values()) {
    const transceiver = peer.pc.getTransceivers().find((t) => t.receiver.track?.kind === kind);
    if (transceiver) senders.push(transceiver.sender);
  }
  return senders;
}

async function switchDevice(kind, deviceId) {
  const old = localTrack(kind);
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: deviceId } } });
  } catch {
    say("This device could not be used.");
    return;
  }
  const track = stream.getTracks()[0];
  track.enabled = old ? old.enabled : true;
  if (old) {
    state.local.removeTrack(old);
    old.stop();
  }
  state.local.addTrack(track);
  if (!(kind === "video" && state.screen)) {
    await Promise.all(sendersOf(kind).map((sender) => sender.replaceTrack(track)));
  }
}

function toggle(kind, button, label) {
  const track = localTrack(kind);
  if (!track) return;
  track.enabled = !track.enabled;
  button.textContent = `${label} ${track.enabled ? "on" : "off"}`;
  button.setAttribute("aria-pressed", String(track.enabled));
}

async function shareScreen() {
  if (state.screen) return stopSharing();
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
  } catch {
    return; // the person chose not to share
  }
  state.screen = stream.getVideoTracks()[0];
  state.screen.addEventListener("ended", stopSharing);
  await Promise.all(sendersOf("video").map((sender) => sender.replaceTrack(state.screen)));
  $("self-view").srcObject = stream;
  $("share-screen").textContent = "Stop sharing";
  $("share-screen").setAttribute("aria-pressed", "true");
}

async function stopSharing() {
  if (!state.screen) return;
  const screen = state.screen;
  state.screen = null;
  screen.stop();
  await Promise.all(sendersOf("video").map((sender) => sender.replaceTrack(localTrack("video"))));
  $("self-view").srcObject = state.local;
  $("share-screen").textContent = "Share screen";
  $("share-screen").setAttribute("aria-pressed", "false");
}

// -- joining and leaving ----------------------------------------------------------------------------

async function join() {
  state.marks = { join: Date.now() }; // each join is timed afresh
  $("join-call").disabled = true;
  const answer = await api("join");
  if (!answer.ok) {
    say(refusal(answer.data));
    $("join-call").disabled = false;
    return;
  }
  const data = answer.data;
  state.me = data.participant;
  state.config = { iceServers: data.ice_servers, iceTransportPolicy: data.ice_transport_policy };
  state.participants = new Map(data.call.participants.map((p) => [p.id, p]));
  state.peerTopicReady = false;
  state.offered = false;
  sessionStorage.setItem(STORE, "joined");
  for (const topic of data.topics) {
    document.dispatchEvent(new CustomEvent("live:subscribe", { detail: { topic } }));
  }
  $("join-area").hidden = true;
  $("hang-up").hidden = false;
  if ($("end-call")) $("end-call").hidden = false;
  if ($("complete-panel")) $("complete-panel").hidden = true;
  showState();
  renderWaiting();
  startStats();
}

function showState() {
  const waiting = state.me?.state === "waiting";
  $("waiting-note").hidden = !waiting;
  $("self-state").textContent = waiting ? "· waiting" : state.me ? "· in the call" : "";
  if (state.me) say("");
}

function stopCall(message) {
  for (const id of [...state.peers.keys()]) closePeer(id);
  state.me = null;
  clearInterval(state.statsTimer);
  state.statsTimer = null;
  sessionStorage.removeItem(STORE);
  $("waiting-note").hidden = true;
  $("hang-up").hidden = true;
  if ($("end-call")) $("end-call").hidden = true;
  $("join-area").hidden = false;
  $("join-call").disabled = false;
  $("join-call").textContent = "Join again";
  $("self-state").textContent = "";
  $("quality").textContent = "—";
  $("quality").dataset.quality = "";
  say(message);
}

async function hangUp() {
  if (!state.me) return;
  const me = state.me;
  for (const id of state.peers.keys()) signal(id, "hangup", {});
  stopCall("You left the call.");
  await api("leave", { participant_id: me.id });
}

async function endForEveryone() {
  const answer = await api("end");
  if (!answer.ok) return say(refusal(answer.data));
  stopCall("You ended the call for everyone.");
  $("complete-panel").hidden = false;
}

async function admit(participantId, button) {
  state.marks.admit = Date.now();
  button.disabled = true;
  const answer = await api("admit", { participant_id: participantId });
  if (!answer.ok) {
    button.disabled = false;
    say(refusal(answer.data));
  }
}

function renderWaiting() {
  const list = $("waiting-list");
  if (!list) return;
  const waiting = [...state.participants.values()].filter((p) => p.state === "waiting");
  list.replaceChildren();
  for (const person of waiting) {
    const item = document.createElement("li");
    item.dataset.participantId = person.id;
    const name = document.createElement("span");
    name.textContent = `${person.name} (${person.role}) `;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small admit";
    button.textContent = "Admit";
    button.disabled = !state.me || state.me.state !== "in_call";
    button.title = button.disabled ? "Join the call to let them in" : "";
    button.addEventListener("click", () => admit(person.id, button));
    item.append(name, button);
    list.append(item);
  }
  $("waiting-empty").hidden = waiting.length > 0;
}

// -- the room's events and the signals ----------------------------------------------------------

document.addEventListener("live:frame", (event) => {
  const frame = event.detail;
  if (frame.topic === roomTopic()) {
    if (frame.type === "snapshot") {
      state.participants = new Map(frame.data.participants.map((p) => [p.id, p]));
      const mine = state.me && state.participants.get(state.me.id);
      if (mine) state.me = mine;
      renderWaiting();
      maybeOffer();
    } else if (frame.type === "event") {
      roomEvent(frame.event, frame.data);
    }
  } else if (state.me && frame.topic === peerTopic()) {
    if (frame.type === "snapshot") {
      state.peerTopicReady = true;
      maybeOffer();
    } else if (frame.type === "event" && frame.event === "signal") {
      onSignal(frame.data).catch((error) => console.warn("signal", error));
    }
  }
});

function roomEvent(name, data) {
  const me = state.me?.id;
  if (name === "participant.waiting" || name === "participant.joined") {
    state.participants.set(data.id, data);
    if (me && data.id === me) {
      state.me = data;
      showState();
      maybeOffer();
    }
    const peer = state.peers.get(data.id);
    if (peer) peer.tile.querySelector(".tile-name").textContent = data.name;
  } else if (name === "participant.left") {
    state.participants.delete(data.participant_id);
    closePeer(data.participant_id);
    if (me && data.participant_id === me && data.reason !== "ended" && data.reason !== "closed") {
      const why = {
        rejoined: "You joined this call from another window.",
        gone: "You were taken out of the call: this page was silent too long.",
      };
      stopCall(why[data.reason] || "You left the call.");
      return;
    }
  } else if (name === "guest.invited") {
    $("invite-user")?.querySelector(`option[value="${CSS.escape(data.user_id)}"]`)?.remove();
  } else if (name === "call.ended" && me) {
    if (host) {
      stopCall("The call has ended.");
      $("complete-panel").hidden = false;
    } else {
      stopCall(data.reason === "closed" ? "The call is closed: the appointment is over." : "The doctor ended the call.");
    }
    return;
  }
  renderWaiting();
}

// Point 4 of the protocol: a peer that comes into the call offers to everyone in it, once its
// own topic is subscribed (so no answer is lost).
function maybeOffer() {
  if (!state.peerTopicReady || state.offered || state.me?.state !== "in_call") return;
  state.offered = true;
  for (const other of state.participants.values()) {
    if (other.id !== state.me.id && other.state === "in_call" && !state.peers.has(other.id)) {
      offerTo(other.id).catch((error) => console.warn("offer", error));
    }
  }
}

function signal(to, kind, data) {
  const frame = { type: "signal", appointment_id: appointmentId, from: state.me.id, to, kind, data };
  document.dispatchEvent(new CustomEvent("live:send", { detail: frame }));
}

function newPeer(id, offerer) {
  const pc = new RTCPeerConnection(state.config);
  const tile = $("tile-template").content.firstElementChild.cloneNode(true);
  tile.dataset.peerId = id;
  tile.querySelector(".tile-name").textContent = state.participants.get(id)?.name || "Someone";
  $("tiles").append(tile);
  const peer = { id, pc, offerer, tile, pending: [], timer: null, restartWanted: false, lastLost: 0, lastReceived: 0 };
  state.peers.set(id, peer);
  const remote = new MediaStream();
  const video = tile.querySelector("video");
  video.srcObject = remote;
  pc.addEventListener("track", (event) => {
    remote.addTrack(event.track);
    play(video);
  });
  watchFirstFrame(video);
  pc.addEventListener("icecandidate", (event) => {
    if (event.candidate) signal(id, "candidate", event.candidate.toJSON());
  });
  pc.addEventListener("iceconnectionstatechange", () => iceChanged(peer));
  pc.addEventListener("signalingstatechange", () => {
    if (pc.signalingState === "stable" && peer.restartWanted) restart(peer);
  });
  return peer;
}

function play(video) {
  video.play().catch(() => {
    // Sound may not start without a click: play muted, and let the person turn it on.
    video.muted = true;
    video.play().catch(() => {});
    if (video.parentElement.querySelector(".unmute")) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small unmute";
    button.textContent = "Turn the sound on";
    button.addEventListener("click", () => { video.muted = false; video.play(); button.remove(); });
    video.parentElement.append(button);
  });
}

function watchFirstFrame(video) {
  const seen = () => { state.marks.firstFrame ??= Date.now(); };
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(seen);
  else video.addEventListener("loadeddata", seen, { once: true });
}

// Both transceivers exist on each connection from the start (sending what we have), so a camera
// switched on later, another device or the shared screen is a replaceTrack.
async function offerTo(id) {
  const peer = newPeer(id, true);
  for (const kind of ["audio", "video"]) {
    const track = kind === "video" && state.screen ? state.screen : localTrack(kind);
    peer.pc.addTransceiver(track || kind, { direction: "sendrecv", streams: [state.local] });
  }
  await sendOffer(peer, {});
}

async function sendOffer(peer, options) {
  const offer = await peer.pc.createOffer(options);
  await peer.pc.setLocalDescription(offer);
  signal(peer.id, "offer", { type: "offer", sdp: peer.pc.localDescription.sdp });
}

async function onSignal(data) {
  const from = data.from;
  let peer = state.peers.get(from);
  if (data.kind === "hangup") return closePeer(from);
  if (data.kind === "offer") {
    if (peer && peer.pc.signalingState === "have-local-offer") {
      // Both offered (they came in at the same moment): the later one's offer wins.
      const mine = state.me.admitted_at || "";
      const theirs = state.participants.get(from)?.admitted_at || "";
      if (mine > theirs || (mine === theirs && state.me.id > from)) return;
      closePeer(from);
      peer = null;
    }
    if (!peer) peer = newPeer(from, false);
    await peer.pc.setRemoteDescription(data.data);
    for (const transceiver of peer.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      const track = kind === "video" && state.screen ? state.screen : localTrack(kind);
      if (!transceiver.sender.track && track) {
        await transceiver.sender.replaceTrack(track);
        transceiver.sender.setStreams?.(state.local);
      }
      transceiver.direction = "sendrecv";
    }
    const answer = await peer.pc.createAnswer();
    await peer.pc.setLocalDescription(answer);
    signal(from, "answer", { type: "answer", sdp: peer.pc.localDescription.sdp });
    await flushCandidates(peer);
  } else if (data.kind === "answer") {
    if (peer?.pc.signalingState !== "have-local-offer") return;
    await peer.pc.setRemoteDescription(data.data);
    await flushCandidates(peer);
  } else if (data.kind === "candidate" && peer) {
    if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(data.data).catch(() => {});
    else peer.pending.push(data.data);
  }
}

async function flushCandidates(peer) {
  const pending = peer.pending.splice(0);
  for (const candidate of pending) await peer.pc.addIceCandidate(candidate).catch(() => {});
}

function closePeer(id) {
  const peer = state.peers.get(id);
  if (!peer) return;
  clearTimeout(peer.timer);
  peer.pc.close();
  peer.tile.remove();
  state.peers.delete(id);
}

// -- ICE restarts ------------------------------------------------------------------------------------

function iceChanged(peer) {
  const ice = peer.pc.iceConnectionState;
  clearTimeout(peer.timer);
  peer.timer = null;
  if (ice === "failed") restart(peer);
  else if (ice === "disconnected") peer.timer = setTimeout(() => restart(peer), DISCONNECTED_GRACE);
  else if (ice === "connected" || ice === "completed") setTimeout(sample, 1000); // report soon
}

function restart(peer) {
  if (!peer.offerer || !state.peers.has(peer.id)) return; // the pair's offerer restarts
  if (peer.pc.signalingState !== "stable") {
    peer.restartWanted = true;
    return;
  }
  peer.restartWanted = false;
  sendOffer(peer, { iceRestart: true }).catch((error) => console.warn("ice restart", error));
}

function restartAll() {
  for (const peer of state.peers.values()) restart(peer);
}

window.addEventListener("online", restartAll);
navigator.connection?.addEventListener?.("change", restartAll);

// -- quality ---------------------------------------------------------------------------------------

function grade(rttMs, loss) {
  if (rttMs === null && loss === null) return "";
  if ((rttMs ?? 0) < 150 && (loss ?? 0) < 0.02) return "good";
  if ((rttMs ?? 0) < 400 && (loss ?? 0) < 0.08) return "fair";
  return "poor";
}

// Per peer: the candidate pair in use (round-trip time, relayed or not), decoded video frames,
// the fraction of packets lost since the last sample, the local ICE user fragment.
async function peerStats() {
  const found = [];
  for (const peer of state.peers.values()) {
    const report = await peer.pc.getStats();
    let pair = null;
    let frames = 0;
    let lost = 0;
    let received = 0;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId) || pair;
      if (s.type === "inbound-rtp") {
        lost += s.packetsLost || 0;
        received += s.packetsReceived || 0;
        if (s.kind === "video") frames += s.framesDecoded || 0;
      }
    });
    if (!pair) report.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
    const local = pair && report.get(pair.localCandidateId);
    const remote = pair && report.get(pair.remoteCandidateId);
    const ufrag = /a=ice-ufrag:(\S+)/.exec(peer.pc.localDescription?.sdp || "")?.[1] || null;
    found.push({
      id: peer.id,
      rttMs: pair?.currentRoundTripTime != null ? pair.currentRoundTripTime * 1000 : null,
      lost,
      received,
      framesDecoded: frames,
      relayed: pair ? local?.candidateType === "relay" || remote?.candidateType === "relay" : null,
      relayPort: local?.candidateType === "relay" ? local.port : null,
      ice: peer.pc.iceConnectionState,
      ufrag,
    });
  }
  return found;
}

async function sample() {
  if (!state.me) return;
  const me = state.me;
  const body = { participant_id: me.id };
  const all = await peerStats().catch(() => []);
  let worst = "";
  const order = ["", "good", "fair", "poor"];
  for (const stats of all) {
    const peer = state.peers.get(stats.id);
    if (!peer) continue;
    const lostNow = Math.max(0, stats.lost - peer.lastLost);
    const receivedNow = Math.max(0, stats.received - peer.lastReceived);
    peer.lastLost = stats.lost;
    peer.lastReceived = stats.received;
    const loss = lostNow + receivedNow > 0 ? lostNow / (lostNow + receivedNow) : null;
    const quality = grade(stats.rttMs, loss);
    const label = peer.tile.querySelector(".tile-quality");
    label.dataset.quality = quality;
    label.textContent = quality;
    if (order.indexOf(quality) > order.indexOf(worst)) worst = quality;
    if (stats.rttMs !== null) body.round_trip_ms = Math.min(60000, Math.max(body.round_trip_ms ?? 0, stats.rttMs));
    if (loss !== null) body.packet_loss = Math.max(body.packet_loss ?? 0, loss);
    body.frames_decoded = (body.frames_decoded ?? 0) + stats.framesDecoded;
    if (stats.relayed !== null) body.relayed = Boolean(body.relayed) || stats.relayed;
  }
  $("quality").dataset.quality = worst;
  $("quality").textContent = worst || "—";
  const answer = await api("stats", body);
  if (answer.status === 409 && state.me === me) stopCall("You are no longer in the call.");
}

function startStats() {
  clearInterval(state.statsTimer);
  sample();
  state.statsTimer = setInterval(sample, STATS_EVERY);
}

// -- the conversation beside the video ---------------------------------------------------------------

// The message form posts as it does on the conversation page, without leaving the call: the
// new message arrives on the conversation's topic (conversation.js shows it).
function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const messageForm = document.getElementById("message-form");
messageForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = messageForm.querySelector("button[type=submit]");
  button.disabled = true;
  let response = null;
  try {
    response = await fetch(messageForm.action, { method: "POST", body: new FormData(messageForm), credentials: "same-origin" });
  } catch {
    response = null;
  }
  button.disabled = false;
  let error = messageForm.querySelector("#message-error");
  if (response?.ok) {
    messageForm.reset();
    messageForm.querySelector("input[name=client_id]").value = newClientId();
    error?.remove();
    return;
  }
  const page = document.createElement("template");
  page.innerHTML = response ? await response.text() : "";
  if (!error) {
    error = document.createElement("p");
    error.className = "form-error";
    error.id = "message-error";
    error.setAttribute("role", "alert");
    messageForm.prepend(error);
  }
  error.textContent = page.content.querySelector("#message-error")?.textContent || "The message could not be sent; try again.";
});

// -- the controls --------------------------------------------------------------------------------------

const completeForm = $("complete-form");
completeForm?.addEventListener("submit", async (event) => {
  // Completing needs the consultation started: start it first (the same move the appointment
  // page posts), then complete.
  if (completeForm.dataset.startFirst !== "true") return;
  event.preventDefault();
  const start = new FormData(completeForm);
  start.set("move", "start");
  await fetch(completeForm.action, { method: "POST", body: start, credentials: "same-origin" });
  const move = document.createElement("input");
  move.type = "hidden";
  move.name = "move";
  move.value = "complete";
  completeForm.append(move);
  completeForm.submit();
});

$("join-call").addEventListener("click", join);
$("hang-up").addEventListener("click", hangUp);
$("end-call")?.addEventListener("click", endForEveryone);
$("toggle-camera").addEventListener("click", (e) => toggle("video", e.currentTarget, "Camera"));
$("toggle-microphone").addEventListener("click", (e) => toggle("audio", e.currentTarget, "Microphone"));
$("toggle-self-view").addEventListener("click", (e) => {
  const hidden = $("self-tile").classList.toggle("hidden-view");
  e.currentTarget.textContent = `Self view ${hidden ? "off" : "on"}`;
  e.currentTarget.setAttribute("aria-pressed", String(!hidden));
});
$("camera-select").addEventListener("change", (e) => switchDevice("video", e.target.value));
$("microphone-select").addEventListener("change", (e) => switchDevice("audio", e.target.value));
if (navigator.mediaDevices?.getDisplayMedia) {
  $("share-screen").hidden = false;
  $("share-screen").addEventListener("click", shareScreen);
}
$("invite-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await api("invite", { user_id: $("invite-user").value });
  say(answer.ok ? "Invited: they have been told and can join now." : refusal(answer.data));
});
window.addEventListener("pagehide", () => {
  // The others close their connection with this page now (not when the sweep finds it
  // silent). A reload keeps the tab's "joined" note: the next page joins again and offers.
  for (const peer of state.peers.values()) {
    if (state.me) signal(peer.id, "hangup", {});
    peer.pc.close();
  }
});

// The doctor sees who waits before joining too (the room's snapshot and events).
if (host) document.dispatchEvent(new CustomEvent("live:subscribe", { detail: { topic: roomTopic() } }));

if (navigator.mediaDevices?.getUserMedia) {
  startMedia().then(() => {
    if (sessionStorage.getItem(STORE) === "joined" && root.dataset.open === "true") join();
  });
} else {
  say("This browser cannot make video calls.");
}
