// check-page.js — one HTML report as the browser saw it: the DOM Chromium
// dumped after loading the page from disk, its log, and its screenshot.
//   node check-page.js KIND DOM LOG PNG MIN_CHARTS [hostile]
// Checks: <body data-kind> is KIND; the figures (class "chart") number
// data-charts, at least MIN_CHARTS; each figure holds data-series series groups
// (and an <svg> when it has any, a "gap" note when it has none); no <script>
// element and nothing that would load from outside the page (the browser runs
// with every request refused anyway); no console error in the log; the
// screenshot is not blank. hostile: the page of a file with "<script>" in its strings shows
// that text escaped. Exit 0, or 1 with what failed.
'use strict';
const fs = require('fs');
const zlib = require('zlib');

const [kind, domPath, logPath, pngPath, minCharts, hostile] = process.argv.slice(2);
const fails = [];
const check = (ok, msg) => { if (!ok) fails.push(msg); };

const dom = fs.readFileSync(domPath, 'utf8');
const attr = (tag, name) => {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? m[1] : null;
};
const body = /<body\b[^>]*>/.exec(dom);
check(body, 'no <body> in the DOM');
if (body) {
  check(attr(body[0], 'data-kind') === kind, `data-kind is ${attr(body[0], 'data-kind')}, expected ${kind}`);
  const declared = Number(attr(body[0], 'data-charts'));
  const figures = dom.split(/<figure\b/).slice(1);
  const charts = figures.filter((f) => /^[^>]*\sclass="chart"/.test(f));
  check(charts.length === declared, `${charts.length} charts in the DOM, the page says ${declared}`);
  check(charts.length >= Number(minCharts), `${charts.length} charts, at least ${minCharts} expected`);
  let series = 0;
  for (const f of charts) {
    const head = f.slice(0, f.indexOf('>'));
    const name = attr(head, 'data-chart');
    const want = Number(attr(head, 'data-series'));
    const inner = f.slice(0, f.indexOf('</figure>'));
    const got = (inner.match(/<g\b[^>]*\sclass="series"/g) || []).length;
    check(got === want, `chart ${name}: ${got} series groups, data-series says ${want}`);
    if (want > 0) check(/<svg\b/.test(inner), `chart ${name}: series but no <svg>`);
    else check(/class="gap"/.test(inner), `chart ${name}: no series and no gap note`);
    check(!/="[^"]*NaN/.test(inner), `chart ${name}: NaN in an attribute`);
    series += got;
  }
  check(series > 0, 'no chart has a series');
  console.log(`${kind}: ${charts.length} charts, ${series} series`);
}
check(!/<script\b/i.test(dom), 'a <script> element is in the DOM');
// nothing outside the page: no element that loads a resource, no reference but
// an anchor in the page or a data: URL, no url() in a style but those
for (const tag of ['link', 'img', 'iframe', 'object', 'embed', 'video', 'audio', 'source', 'image', 'use'])
  check(!new RegExp(`<${tag}\\b`, 'i').test(dom), `a <${tag}> element is in the DOM`);
for (const m of dom.matchAll(/\s(?:src|href|xlink:href|srcset|poster|data)="([^"]*)"/g))
  check(m[1].startsWith('#') || m[1].startsWith('data:'), `a reference outside the page: ${m[0].trim()}`);
for (const m of dom.matchAll(/url\(([^)]*)\)|@import/g))
  check(m[1] !== undefined && /^['"]?(#|data:)/.test(m[1]), `a stylesheet reference: ${m[0]}`);
if (hostile) check(dom.includes('&lt;script&gt;'), 'the escaped "<script>" text is missing');

const log = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '';
for (const line of log.split('\n')) {
  if (/CONSOLE/.test(line) && /error|Uncaught/i.test(line)) fails.push(`console: ${line.trim()}`);
}

// ---- the screenshot: a PNG decoded here (8-bit RGB or RGBA, any filter) ----
function pngPixels(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8, width = 0, height = 0, depth = 0, type = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off), t = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (t === 'IHDR') [width, height, depth, type] = [data.readUInt32BE(0), data.readUInt32BE(4), data[8], data[9]];
    if (t === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  if (depth !== 8 || (type !== 2 && type !== 6)) throw new Error(`PNG type ${type} depth ${depth}`);
  const bpp = type === 6 ? 4 : 3, stride = width * bpp;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[y * stride + x - bpp] : 0, b = y ? px[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y ? px[(y - 1) * stride + x - bpp] : 0;
      let v = src[x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = v & 255;
    }
  }
  return { width, height, bpp, px };
}
try {
  const { width, height, bpp, px } = pngPixels(fs.readFileSync(pngPath));
  let ink = 0;
  const colours = new Set();
  for (let i = 0; i < width * height; i++) {
    const r = px[i * bpp], g = px[i * bpp + 1], b = px[i * bpp + 2];
    if (r < 235 || g < 235 || b < 235) ink++;
    if (colours.size < 64) colours.add((r << 16) | (g << 8) | b);
  }
  const share = ink / (width * height);
  console.log(`${kind}: screenshot ${width}x${height}, ${(100 * share).toFixed(1)}% ink, ${colours.size}+ colours`);
  check(share > 0.01, `the screenshot is blank (${(100 * share).toFixed(2)}% of its pixels are not white)`);
  check(colours.size >= 4, `the screenshot has ${colours.size} colours`);
} catch (e) {
  fails.push(`screenshot ${pngPath}: ${e.message}`);
}

if (fails.length) {
  for (const f of fails) console.error(`${kind}: ${f}`);
  process.exit(1);
}
