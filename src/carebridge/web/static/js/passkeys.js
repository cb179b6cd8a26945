// Passkeys on the sign-in, second-step and account pages. A form marked data-passkey="create"
// or "get" is shown only where the browser has WebAuthn. On submit the script asks CareBridge
// for the ceremony's options (data-options-url, with the page's CSRF token; the account page
// sends the password with it), lets the browser make or use the passkey, writes the browser's
// answer (JSON) into the form's hidden field and submits the form: the server checks it.

function bytes(base64url) {
  const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
}

function text(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function withIds(list) {
  return (list || []).map((c) => ({ ...c, id: bytes(c.id) }));
}

// The options as the browser wants them (its own parser where it has one).
function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return { ...json, challenge: bytes(json.challenge), user: { ...json.user, id: bytes(json.user.id) }, excludeCredentials: withIds(json.excludeCredentials) };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: bytes(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

// The browser's answer as JSON (its own toJSON() where it has one).
function answer(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const response = {};
  for (const name of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
    if (credential.response[name]) response[name] = text(credential.response[name]);
  }
  if (credential.response.getTransports) response.transports = credential.response.getTransports();
  return {
    id: credential.id,
    rawId: text(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

const REFUSED = {
  NotAllowedError: "The passkey prompt was closed or timed out. Try again when you are ready.",
  InvalidStateError: "This device already has a passkey for your account.",
  SecurityError: "Passkeys are not allowed at this address.",
};

async function ceremony(form) {
  const error = form.querySelector("[data-passkey-error]");
  const show = (message) => {
    error.textContent = message;
    error.hidden = !message;
  };
  show("");
  const password = form.querySelector("input[name=password]");
  const csrf = form.querySelector("input[name=csrf_token]").value;
  const optionsResponse = await fetch(form.dataset.optionsUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(password ? { password: password.value } : {}),
  });
  const body = await optionsResponse.json().catch(() => ({}));
  if (!optionsResponse.ok) {
    show(body.detail || "Passkeys are not available right now.");
    return;
  }
  let credential;
  try {
    credential = form.dataset.passkey === "create"
      ? await navigator.credentials.create({ publicKey: creationOptions(body.options) })
      : await navigator.credentials.get({ publicKey: requestOptions(body.options) });
  } catch (problem) {
    show(REFUSED[problem.name] || "The passkey could not be used here.");
    return;
  }
  const field = form.querySelector("input[name=credential], input[name=passkey]");
  field.value = JSON.stringify(answer(credential));
  if (password) password.disabled = true; // proven already: not sent again
  form.submit();
}

window.addEventListener("DOMContentLoaded", () => {
  const forms = document.querySelectorAll("form[data-passkey]");
  const supported = typeof window.PublicKeyCredential === "function";
  for (const form of forms) {
    form.hidden = !supported;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      ceremony(form);
    });
  }
  if (!supported) {
    for (const note of document.querySelectorAll("[data-passkey-unsupported]")) note.hidden = false;
  }
});
