// The symptom diary's severity slider: its value shown next to it as it moves.
for (const slider of document.querySelectorAll("input[type=range][data-shown-in]")) {
  const shown = document.getElementById(slider.dataset.shownIn);
  if (shown) slider.addEventListener("input", () => { shown.value = slider.value; });
}
