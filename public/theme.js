// Shows the theme this browser chose (crates/page/src/theme.rs writes it) from the first
// paint: loaded before the stylesheet, it sets <html data-theme> before anything is drawn, so
// a reload never flashes the other theme. No choice: the stylesheet follows the device.
const root = document.documentElement;
const show = (theme) => {
  if (theme === "light" || theme === "dark") root.dataset.theme = theme;
  else delete root.dataset.theme;
};
try {
  show(localStorage.getItem("merpati.theme"));
} catch (_) {
  // Storage refused (a privacy mode): the device's theme it is.
}
// Another tab of this browser chose a theme: this one shows it too, at once. Or a language
// (crates/page/src/language.rs): this one starts again in it, as the choosing tab did — but
// only once out of sight, so that what is on screen (an edit, a reply being written, the
// search) is not taken from under the person; the outbox and the drafts are stored.
const reloadWhenHidden = () => {
  if (document.hidden) location.reload();
};
addEventListener("storage", (event) => {
  if (event.key === "merpati.theme") show(event.newValue);
  else if (event.key === "merpati.language") {
    reloadWhenHidden();
    document.addEventListener("visibilitychange", reloadWhenHidden);
  }
});
