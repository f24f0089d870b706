#!/bin/sh
# run.sh OUTDIR — produces the js-tiktoken oracle files the C test
# tests/test_tokenizer_oracle.c reads (built with -DIS_ORACLE_DIR=OUTDIR):
#   OUTDIR/{r50k_base,cl100k_base,o200k_base}.tiktoken   rank files
#   OUTDIR/corpus.bin, OUTDIR/corpus.bin.valid            test corpus
#   OUTDIR/{r50k_base,cl100k_base,o200k_base}.ids         js-tiktoken's ids
# Installs js-tiktoken (pinned in package-lock.json) into tests/oracle/node_modules
# with `npm ci` the first time. Needs node >= 18 and npm.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "run.sh: '$tool' not found; install Node.js (>= 18, with npm) to build the tokenizer oracle" >&2
        exit 1
    fi
done

cd "$here"
if [ ! -d node_modules/js-tiktoken ]; then
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
fi

node export_ranks.mjs "$out"
node make_corpus.mjs "$out/corpus.bin"
for enc in r50k_base cl100k_base o200k_base; do
    node encode.mjs "$enc" "$out/corpus.bin" "$out/$enc.ids"
done
echo "oracle files in $out" >&2
