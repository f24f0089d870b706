#!/usr/bin/env bash
# alternating A/B runs: old (5174bdf) and new builds, tinyllama-1.1b, 2 threads
OLD=${OLD:?the build before}; NEW=${NEW:?the build after}
run() { local bin=$1; shift; "$bin" generate --model preset:tinyllama-1.1b --threads 2 --ignore-eos "$@" 2>&1 >/dev/null | grep '^timing:'; }
for round in 1 2 3; do
  for dt in f32 bf16; do
    for who in OLD NEW; do
      bin=${!who}
      pp=$(run $bin --dtype $dt --prompt-len 512 -n 1 | sed -E 's/.*prefill [0-9]+ tok in [0-9.]+ ms, ([0-9.]+) tok\/s.*/\1/')
      ppp=$(OPENBLAS_CORETYPE=Prescott run $bin --dtype $dt --prompt-len 512 -n 1 | sed -E 's/.*prefill [0-9]+ tok in [0-9.]+ ms, ([0-9.]+) tok\/s.*/\1/')
      tg=$(run $bin --dtype $dt --prompt-len 1 -n 65 | sed -E 's/.*decode [0-9]+ tok in [0-9.]+ ms, ([0-9.]+) tok\/s.*/\1/')
      echo "round $round $who $dt pp512 $pp pp512_prescott $ppp tg64 $tg"
    done
  done
done
