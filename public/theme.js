// Shows the theme this browser chose (crates/page/src/theme.rs writes it) from the first
// paint: loaded before the stylesheet, it sets <html data-theme> before anything is drawn, so
// a reload never flashes the other theme. No choice: the stylesheet follows the device.
try {
  const theme = localStorage.getItem("merpati.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch (_) {
  // Storage refused (a privacy mode): the device's theme it is.
}
