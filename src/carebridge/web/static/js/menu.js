// The header menu on narrow screens. Without JavaScript a checkbox and its label fold it (see
// base.html); this module puts a real button in their place, which says whether the menu is
// open (aria-expanded) and closes it again with Escape.
const button = document.getElementById("menu-button");
const menu = document.getElementById("site-menu");
const checkbox = document.getElementById("menu-toggle");
const label = document.querySelector('label[for="menu-toggle"]');

if (button && menu && checkbox && label) {
  const setOpen = (open) => {
    button.setAttribute("aria-expanded", String(open));
    menu.classList.toggle("open", open);
  };
  setOpen(checkbox.checked); // opened with the label before this module ran
  checkbox.checked = false;
  checkbox.hidden = true;
  label.hidden = true;
  button.hidden = false;
  button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      button.focus();
    }
  });
}
