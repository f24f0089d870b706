// encode.mjs ENCODING CORPUS OUT_IDS [REPS] — encodes CORPUS with js-tiktoken and
// writes the ids, space separated, on one line to OUT_IDS. ENCODING is one of
// r50k_base, cl100k_base, o200k_base. Special tokens in the text are allowed
// (encode(text, "all")): the C test encodes with allow_special = true.
//
// Invalid UTF-8: js-tiktoken encodes JS strings (UTF-16), so bytes that are not
// valid UTF-8 cannot be handed to it as they are. The corpus is decoded with
// TextDecoder("utf-8"), which replaces each maximal invalid subsequence with
// U+FFFD (the WHATWG/Unicode "maximal subpart" rule). make_corpus.mjs writes that
// same replaced text as CORPUS.valid; the C test compares ids on CORPUS.valid,
// and checks the exact byte round trip decode(encode(x)) == x on the raw CORPUS
// (where there is nothing to compare against) as well as on CORPUS.valid.
//
// Timing: after one warm-up run, REPS (default 5) timed runs with
// performance.now(); the median goes to stderr as MB/s (MB = 1e6 bytes of UTF-8
// input), so a benchmark can report js-tiktoken's throughput beside ours.
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { Tiktoken } from "js-tiktoken/lite";
import r50k_base from "js-tiktoken/ranks/r50k_base";
import cl100k_base from "js-tiktoken/ranks/cl100k_base";
import o200k_base from "js-tiktoken/ranks/o200k_base";

const encodings = { r50k_base, cl100k_base, o200k_base };
const [name, corpusPath, outPath] = process.argv.slice(2, 5);
const reps = Number(process.argv[5] ?? 5);
if (!name || !corpusPath || !outPath || !encodings[name] || !(reps >= 1)) {
  console.error(`usage: node encode.mjs {${Object.keys(encodings).join("|")}} CORPUS OUT_IDS [REPS]`);
  process.exit(2);
}

const raw = fs.readFileSync(corpusPath);
const text = new TextDecoder("utf-8").decode(raw);
const nbytes = Buffer.byteLength(text, "utf8");
const enc = new Tiktoken(encodings[name]);

const ids = enc.encode(text, "all"); // warm-up, and the ids we write
const times = [];
for (let i = 0; i < reps; i++) {
  const t0 = performance.now();
  enc.encode(text, "all");
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];

// Sanity: js-tiktoken's own decode must give the text back.
if (enc.decode(ids) !== text) {
  console.error(`${name}: js-tiktoken decode(encode(text)) != text`);
  process.exit(1);
}
fs.writeFileSync(outPath, ids.join(" ") + "\n");
console.error(`js-tiktoken ${name}: ${nbytes} bytes -> ${ids.length} ids; ` +
  `median of ${reps}: ${median.toFixed(1)} ms, ${(nbytes / 1e6 / (median / 1e3)).toFixed(2)} MB/s`);
