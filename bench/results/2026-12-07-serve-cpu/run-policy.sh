B="$(pwd)/build/inferscope"
M=preset:smollm2-135m
cd "${OUT:-.}"
for i in 1 2; do
  $B serve-bench --model $M --rate 0.5 --policy decode-first,prefill-first --requests 24 -p 256 -n 32 -t 2 --max-batch-tokens 64 --max-seqs 16 --seed $i --out pol_$i --force > pol_$i.md 2> pol_$i.err
done
echo ALLDONE
