// export_ranks.mjs OUTDIR — writes OUTDIR/{r50k_base,cl100k_base,o200k_base}.tiktoken
// in the standard tiktoken rank-file format ("base64-token rank" per line, sorted
// by rank), converted from the ranks modules of js-tiktoken (MIT; version pinned in
// package.json). js-tiktoken stores ranks compressed: lines "! OFFSET tok1 tok2 …",
// where base64 token k of a line has rank OFFSET + k.
import fs from "node:fs";
import path from "node:path";
import r50k_base from "js-tiktoken/ranks/r50k_base";
import cl100k_base from "js-tiktoken/ranks/cl100k_base";
import o200k_base from "js-tiktoken/ranks/o200k_base";

const outdir = process.argv[2];
if (!outdir) {
  console.error("usage: node export_ranks.mjs OUTDIR");
  process.exit(2);
}
fs.mkdirSync(outdir, { recursive: true });

function toRankFile(name, ranks) {
  const entries = [];
  for (const line of ranks.bpe_ranks.split("\n")) {
    if (!line) continue;
    const [, offsetStr, ...tokens] = line.split(" ");
    const offset = Number.parseInt(offsetStr, 10);
    tokens.forEach((tok, i) => entries.push([tok, offset + i]));
  }
  entries.sort((a, b) => a[1] - b[1]);
  // The ranks must be 0..n-1, each once, and each token must appear once.
  const seen = new Set();
  entries.forEach(([tok, rank], i) => {
    if (rank !== i) throw new Error(`${name}: rank ${rank} at position ${i} (gap or duplicate)`);
    if (seen.has(tok)) throw new Error(`${name}: token ${tok} appears twice`);
    seen.add(tok);
  });
  return { text: entries.map(([tok, rank]) => `${tok} ${rank}\n`).join(""), n: entries.length };
}

for (const [name, ranks] of Object.entries({ r50k_base, cl100k_base, o200k_base })) {
  const { text, n } = toRankFile(name, ranks);
  const file = path.join(outdir, `${name}.tiktoken`);
  fs.writeFileSync(file, text);
  console.error(`${file}: ${n} ranks`);
}
