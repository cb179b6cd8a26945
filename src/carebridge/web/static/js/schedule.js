// The schedule editor: add and remove weekly window rows without a round trip. Without
// JavaScript the form still works: one empty row is always there, and a row whose times are
// cleared is left out when saving.
const rows = document.getElementById("windows");
const template = document.getElementById("window-template");
const add = document.getElementById("add-window");

if (rows && template && add) {
  add.addEventListener("click", () => {
    const row = template.content.firstElementChild.cloneNode(true);
    const last = rows.querySelector("tr:last-child select");
    if (last) row.querySelector("select").value = last.value;
    rows.appendChild(row);
    row.querySelector("input").focus();
  });
  rows.addEventListener("click", (event) => {
    const button = event.target.closest(".remove-window");
    if (!button) return;
    const row = button.closest("tr");
    if (rows.children.length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input").forEach((input) => { input.value = ""; });
    }
  });
}
