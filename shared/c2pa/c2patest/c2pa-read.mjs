// Reads one file with the C2PA reference implementation (c2pa-rs compiled to
// wasm, npm @contentauth/c2pa-wasm) and prints the reader's JSON report.
// Usage: node c2pa-read.mjs PKG_DIR MIME FILE [TRUST_ANCHORS_PEM_FILE]
// A file the reader refuses outright prints {"error": "..."} and exits 0, so
// the Go test can assert on it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [pkgDir, mime, file, anchors] = process.argv.slice(2);
const mod = await import(pathToFileURL(join(pkgDir, 'pkg', 'c2pa.js')).href);
mod.initSync({ module: readFileSync(join(pkgDir, 'pkg', 'c2pa_bg.wasm')) });
let context = null;
if (anchors) {
  context = JSON.stringify({ trust: { trust_anchors: readFileSync(anchors, 'utf8') }, verify: { verify_trust: true } });
}
try {
  const r = await mod.WasmReader.fromBytes(mime, new Uint8Array(readFileSync(file)), context);
  process.stdout.write(r.json());
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && (e.message || e)) }));
}
