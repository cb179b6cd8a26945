// Fills the sign-up form's time zone from the browser, so times are shown in the patient's zone.
window.addEventListener("DOMContentLoaded", () => {
  const field = document.getElementById("time-zone");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (field && zone) field.value = zone;
});
