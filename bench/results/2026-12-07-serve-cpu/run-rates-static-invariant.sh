B="$(pwd)/build/inferscope"
M=preset:smollm2-135m
cd "${OUT:-.}"
$B serve-bench --model $M --rate 0.25,0.5,1,inf --requests 16 -p 128 -n 32 -t 2 --out rates --force > rates.md 2> rates.err
$B bench --model $M -b 16 -p 128 -n 32 -t 2 -r 3 --warmup 0 --no-probe --max-time 1 --out static --force > static.md 2> static.err
$B serve-bench --model $M --rate 0.5 --policy decode-first,prefill-first --requests 16 -p 128 -n 32 -t 2 --out policy --force > policy.md 2> policy.err
for i in 1 2; do
  $B serve-bench --model $M --rate inf --requests 16 -p 128 -n 32 -t 2 --out inv_off_$i --force > inv_off_$i.md 2> inv_off_$i.err
  $B serve-bench --model $M --rate inf --requests 16 -p 128 -n 32 -t 2 --batch-invariant --out inv_on_$i --force > inv_on_$i.md 2> inv_on_$i.err
done
echo ALLDONE
