// Copies the pinned browser libraries from node_modules into the web app's static folder.
// Run by `make assets` after `npm ci`; the stamp file tells the app and make that it is done.
import { copyFileSync, mkdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const vendor = join(root, "src/carebridge/web/static/vendor");

const files = {
  "htmx/htmx.min.js": "htmx.org/dist/htmx.min.js",
  "pico/pico.min.css": "@picocss/pico/css/pico.min.css",
  "swagger-ui/swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
  "swagger-ui/swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
  "uplot/uPlot.esm.js": "uplot/dist/uPlot.esm.js",
  "uplot/uPlot.min.css": "uplot/dist/uPlot.min.css",
  "leaflet/leaflet-src.esm.js": "leaflet/dist/leaflet-src.esm.js",
  "leaflet/leaflet.css": "leaflet/dist/leaflet.css",
  "leaflet/images/marker-icon.png": "leaflet/dist/images/marker-icon.png",
  "leaflet/images/marker-icon-2x.png": "leaflet/dist/images/marker-icon-2x.png",
  "leaflet/images/marker-shadow.png": "leaflet/dist/images/marker-shadow.png",
  "leaflet/images/layers.png": "leaflet/dist/images/layers.png",
  "leaflet/images/layers-2x.png": "leaflet/dist/images/layers-2x.png",
};

rmSync(vendor, { recursive: true, force: true });
for (const [target, source] of Object.entries(files)) {
  const from = join(root, "node_modules", source);
  if (!existsSync(from)) {
    console.error(`missing ${from}: run npm ci first`);
    process.exit(1);
  }
  const to = join(vendor, target);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}
writeFileSync(join(vendor, ".built"), new Date().toISOString() + "\n");
console.log(`web assets: ${Object.keys(files).length} files copied into ${vendor}`);
