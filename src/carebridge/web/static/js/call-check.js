// The pre-call check (templates/calls/check.html): the camera's picture, the microphone's level
// (a WebAudio AnalyserNode), a test tone on the chosen speakers (setSinkId where the browser has
// it), and whether this device reaches the TURN relay: an RTCPeerConnection limited to relayed
// candidates (iceTransportPolicy "relay") with the servers of POST /call-check/servers, which
// succeeds when a candidate of type "relay" is gathered. Each part's result is in its
// status line's data-state (ok, failed, none, unreachable, reachable).

const RELAY_TIMEOUT_MS = 10000;
const HEARD = 0.05; // a level (0..1) above the room's silence: someone speaks
const $ = (id) => document.getElementById(id);
const csrf = () => document.querySelector("input[name=csrf_token]")?.value || ""; // the menu's sign-out form

function show(id, state, text) {
  const line = $(id);
  line.dataset.state = state;
  line.textContent = text;
}

let audio = null; // one AudioContext for the meter and the tone

function audioContext() {
  audio = audio || new AudioContext();
  if (audio.state === "suspended") audio.resume();
  return audio;
}

async function checkMedia() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (error) {
    const denied = error?.name === "NotAllowedError";
    const why = denied ? "Allow the camera and the microphone for this site in your browser." : "No camera or microphone found.";
    show("camera-status", "failed", why);
    show("mic-status", "failed", why);
    return;
  }
  const preview = $("camera-preview");
  preview.srcObject = stream;
  const camera = stream.getVideoTracks()[0];
  show("camera-status", camera ? "ok" : "failed", camera ? `Your camera works: ${camera.label || "camera"}.` : "No camera found.");
  const microphone = stream.getAudioTracks()[0];
  if (!microphone) return show("mic-status", "failed", "No microphone found.");
  show("mic-status", "listening", `Listening on ${microphone.label || "your microphone"}…`);
  meter(stream);
  listSpeakers();
}

function meter(stream) {
  const context = audioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const bar = $("mic-level");
  let heard = false;
  const tick = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const value of samples) sum += value * value;
    const level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    bar.value = level;
    if (!heard && level > HEARD) {
      heard = true;
      show("mic-status", "ok", "Your microphone works: we hear you.");
    }
    requestAnimationFrame(tick);
  };
  tick();
}

async function listSpeakers() {
  const element = new Audio();
  if (typeof element.setSinkId !== "function" || !navigator.mediaDevices.enumerateDevices) return;
  const outputs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audiooutput");
  if (outputs.length < 2) return;
  const choice = $("speaker-choice");
  choice.replaceChildren(...outputs.map((d, i) => new Option(d.label || `Speakers ${i + 1}`, d.deviceId)));
  choice.hidden = false;
  $("speaker-choice-label").hidden = false;
}

async function playTone() {
  const context = audioContext();
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  oscillator.frequency.value = 440;
  gain.gain.setValueAtTime(0.2, context.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.8);
  oscillator.connect(gain);
  const choice = $("speaker-choice");
  const sink = choice.hidden ? "" : choice.value;
  if (sink && typeof context.setSinkId === "function") {
    await context.setSinkId(sink).catch(() => {});
  } else if (sink) {
    // Older browsers route an <audio> element, not the context: send the tone through one.
    const destination = context.createMediaStreamDestination();
    gain.connect(destination);
    const element = new Audio();
    element.srcObject = destination.stream;
    await element.setSinkId(sink).catch(() => {});
    element.play();
  }
  if (!sink || typeof context.setSinkId === "function") gain.connect(context.destination);
  oscillator.start();
  oscillator.stop(context.currentTime + 0.8);
  show("speaker-status", "played", "We played a short tone. Did you hear it? If not, turn the volume up or choose other speakers.");
}

function isTurn(server) {
  return [].concat(server.urls || []).some((url) => /^turns?:/i.test(url));
}

async function checkRelay() {
  show("relay-status", "checking", "Checking…");
  let servers;
  try {
    const response = await fetch("/call-check/servers", {
      method: "POST",
      headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(String(response.status));
    servers = (await response.json()).ice_servers.filter(isTurn);
  } catch {
    return show("relay-status", "error", "Could not ask CareBridge for the relay's address: check your connection and try again.");
  }
  if (!servers.length) {
    return show("relay-status", "none", "No relay is configured: calls connect directly where they can.");
  }
  const reached = await gatherRelay(servers.map(({ urls, username, credential }) => ({ urls, username, credential })));
  if (reached) show("relay-status", "reachable", "Yes: this device reaches our relay. Calls will connect even behind a strict firewall.");
  else show("relay-status", "unreachable", "Not reachable: this network blocks our relay. A call may not connect from here; try another network (a phone's, for instance).");
}

function gatherRelay(iceServers) {
  const connection = new RTCPeerConnection({ iceServers, iceTransportPolicy: "relay" });
  return new Promise((resolve) => {
    const done = (reached) => {
      clearTimeout(timer);
      connection.close();
      resolve(reached);
    };
    const timer = setTimeout(() => done(false), RELAY_TIMEOUT_MS);
    connection.addEventListener("icecandidate", (event) => {
      const candidate = event.candidate;
      if (candidate && (candidate.type === "relay" || / typ relay /.test(candidate.candidate))) done(true);
      else if (!candidate) done(false); // gathering finished without a relayed address
    });
    connection.createDataChannel("check");
    connection.createOffer().then((offer) => connection.setLocalDescription(offer)).catch(() => done(false));
  });
}

function start() {
  $("check-start").disabled = true;
  checkMedia();
  checkRelay();
}

if (!window.RTCPeerConnection || !navigator.mediaDevices?.getUserMedia) {
  $("check-unsupported").hidden = false;
  $("check-start").disabled = true;
} else {
  $("check-start").addEventListener("click", start);
  $("speaker-test").addEventListener("click", playTone);
}
