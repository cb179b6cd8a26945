// Turns on web push for this browser: permission, service worker, subscription, saved to
// CareBridge with the page's CSRF token.
function keyBytes(base64url) {
  const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

window.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("enable-push");
  const status = document.getElementById("push-status");
  if (!button) return;
  button.addEventListener("click", async () => {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      status.textContent = "This browser cannot receive push messages.";
      return;
    }
    if ((await Notification.requestPermission()) !== "granted") {
      status.textContent = "Push messages need your permission.";
      return;
    }
    try {
      const registration = await navigator.serviceWorker.register("/static/sw.js");
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(button.dataset.vapidKey),
      });
      const csrf = document.querySelector("input[name=csrf_token]").value;
      const response = await fetch("/notifications/push-subscription", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(subscription.toJSON()),
      });
      status.textContent = response.ok ? "Push messages are on for this device." : "Could not save this device.";
    } catch (error) {
      status.textContent = "Push messages could not be turned on here.";
    }
  });
});
