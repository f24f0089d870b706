#!/usr/bin/env python3
"""ci/hf-oracle.py — an independent oracle: Hugging Face transformers against inferscope.

usage: ci/hf-oracle.py MODEL_DIR [options]
       ci/hf-oracle.py --self-test [--ours CMD] [--out FILE]

MODEL_DIR is a Hugging Face directory (`inferscope export --model preset:NAME --out
DIR` writes one). transformers' AutoModelForCausalLM loads it on --device in each
dtype of --dtype (token ids go in directly: no tokenizer); it computes the logits
of the prompt's last position and N greedy ids (a plain argmax loop over its KV
cache, EOS ignored). Then our binary runs the same prompt for each --run
BACKEND:DTYPE:

  inferscope logits --model DIR --prompt-ids IDS --backend B --dtype D
      (the last position's logits, every id of the vocabulary, as JSON)
  inferscope generate --model DIR --prompt-ids IDS -n N --print-ids --ignore-eos
      --backend B --dtype D                               (N greedy ids)

What is compared, at the last position (our logits a, transformers' b, over all V):
  - logit_nmse: sum (a - b)^2 / sum b^2;
  - top5_overlap: |our top 5 ids ∩ HF's top 5| / 5, and top5_gap: for the ids of
    our top 5 outside HF's, how far below HF's 5th they are under HF (0: none);
  - top1_equal, and top1_gap: HF's best log-probability minus HF's log-probability
    of our top-1 (0 when equal); top5 and top5_ref: the five best ids with their
    log-probabilities, ours and HF's;
  - topk_logprob_max_abs: the largest |difference of log-softmax| (float64) over
    HF's K most likely ids (--topk), in nats;
  - greedy: the first position where our N ids and HF's differ (null: none);
  - teacher-forced: HF run over the prompt followed by our ids; for each of our
    ids, its rank under HF and its gap (HF's best log-probability minus that of
    our id). A greedy difference that is a near-tie shows as a small gap.

Every run is compared with the first HF dtype (fp32 by default: the weights of an
exported BF16 directory are exact in fp32, so HF fp32 is the most exact
reference; the others are reported, not judged); with two HF dtypes, HF bf16
against HF fp32 (the same measures) is reported too: the yardstick for a BF16 run.

A run passes when all of these hold (tolerances by backend, CPU / CUDA):
  - logit_nmse <= 1e-8 / 1e-3. The CPU computes in fp32 whatever --dtype holds the
    weights in, and the weights of a BF16 export are exact in either, so what is
    left is fp32 rounding in another order on both sides: against a float64 pass
    our CPU logits give NMSE ~2e-12 on preset:smollm2-135m, and 1e-8 is the bound
    kernels/check.c sets for fp32 sums in another order; one BF16 rounding (2^-9
    relative) of the logits or of the hidden state they come from gives ~1e-6
    (3e-6 there) and fails. CUDA rounds activations to BF16 before each GEMM and
    holds a BF16 KV cache (with --dtype f32 too): 2^-9 at every GEMM and KV store
    over every layer, NMSE ~1e-4 (kernels/check.c's estimate: not yet measured on
    a GPU); 1e-3 is the bound it sets for a BF16 forward pass against F32
    (IS_CHECK_FORWARD_BF16). A wrong index or formula gives ~1.
  - topk_logprob_max_abs <= 1e-3 / 0.15 nats: what those NMSE bounds allow at the
    top ids. NMSE 1e-8 is an rms logit error of 1e-4 of the logits' rms, 1e-3 one
    of 3%; the presets' random weights give logits of rms 0.16 to 0.5 (tiny,
    smollm2-135m), the largest error over K ids is a few times the rms, and the
    log-sum-exp moves with the error too.
  - top-1 equal, or a near-tie: top1_gap <= the tie gap, 1e-3 / 0.15 nats (the
    same error moves two close logits past each other).
  - top-5 differences are near-ties: top5_gap <= the tie gap. top5_overlap is
    reported; on random weights the top logits lie close together, so an id
    swapped at the 5th place is judged by its gap, not counted.
  - every teacher-forced gap <= the tie gap.
The tolerances assume weights exact in the run's dtype (a BF16 export, as the
self-test and ci/gpu-smoke write): a BF16 run of an F32 directory rounds the
weights (NMSE 5e-5 on preset:smollm2-135m) and fails the CPU bounds.

Options:
  --device cuda|cpu      where transformers runs (default: cuda when available)
  --dtype LIST           HF dtypes, comma-separated: fp32, bf16 (default fp32,bf16)
  --ids IDS              prompt ids, '1,2,3' or '1 2 3' (default: 32 fixed ids in the vocabulary)
  -n N                   greedy ids to compare (default 32)
  --topk K               HF's most likely ids over which log-softmax is compared
                         (default 20, 5..256)
  --ours CMD             how to run our binary, split like a shell line (default:
                         $IS_INFERSCOPE, else build/inferscope beside this script)
  --run BACKEND:DTYPE    one of our runs (repeatable; default cuda:bf16 and cpu:f32
                         with --device cuda, cpu:f32 and cpu:bf16 with --device cpu)
  --threads N            --threads of our CPU runs (default 0: all)
  --timeout S            limit of each of our runs in seconds (default 600)
  --out FILE             write the JSON there too (it always goes to stdout)
  --self-test            export preset:tiny into a temporary folder and compare on the
                         CPU (fp32 and bf16 both sides): a few seconds

Exit status: 0 every run passed; 1 a run is outside its tolerances; 2 usage;
3 our binary or the model failed; 77 torch or transformers is not importable
(the reason is printed: the caller skips).
"""

import argparse
import heapq
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time

EXIT_MISMATCH, EXIT_USAGE, EXIT_ERROR, EXIT_SKIP = 1, 2, 3, 77
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = {  # the pass rules of the docstring, by our backend; log-probabilities in nats
    # fp32 compute on the CPU, whatever --dtype holds the weights in
    "cpu": {"logit_nmse": 1e-8, "topk_logprob_max_abs": 1e-3, "tie_gap": 1e-3},
    # BF16 activations into each GEMM and a BF16 KV cache, either --dtype
    "cuda": {"logit_nmse": 1e-3, "topk_logprob_max_abs": 0.15, "tie_gap": 0.15},
}


class OracleError(Exception):
    pass


def parse_ids(text):
    ids = [int(t) for t in text.replace(",", " ").split()]
    if not ids:
        raise ValueError("no ids")
    return ids


def default_ids(vocab):
    # 32 ids spread over the vocabulary, the same for every run
    return [(13 + 7919 * i) % vocab for i in range(32)]


def import_torch():
    """torch and transformers, or the reason they are not there."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch  # noqa: F401
    except Exception as e:  # ImportError, or a broken install
        return None, None, "torch is not importable: %s" % e
    try:
        import transformers  # noqa: F401
    except Exception as e:
        return None, None, "transformers is not importable: %s" % e
    return torch, transformers, None


# ---- the measures, on plain lists (no torch: tests/ci/hf-oracle-test checks them) ----


def nmse(got, ref):
    """sum (got - ref)^2 / sum ref^2; nan when got holds a value that is not finite."""
    num = math.fsum((g - r) ** 2 for g, r in zip(got, ref))
    den = math.fsum(r * r for r in ref)
    if math.isnan(num):
        return float("nan")
    return 0.0 if num == 0 else (num / den if den else float("inf"))


def log_softmax(v):
    """float64 log-softmax of a list of logits."""
    m = max(v)
    lse = m + math.log(math.fsum(math.exp(x - m) for x in v))
    return [x - lse for x in v]


def top_ids(v, k):
    """the ids of the k largest values of v, best first; among equal values the
    lower id first (our greedy's argmax)."""
    return heapq.nsmallest(k, range(len(v)), key=lambda i: (-v[i], i))


def last_position(ours, ref, k):
    """our last-position logits against a reference's (lists of V floats): the
    measures of the docstring; None where our logits are not all finite."""
    if len(ours) != len(ref):
        raise OracleError("%d logits against %d" % (len(ours), len(ref)))
    bad = sum(1 for x in ours if not math.isfinite(x))
    keys = ("logit_nmse", "top1_equal", "top1_gap", "top5_overlap", "top5_gap", "topk_logprob_max_abs",
            "top5", "top5_ref")
    if bad:
        return dict({key: None for key in keys}, not_finite=bad)
    lo, lr = log_softmax(ours), log_softmax(ref)
    k5 = min(5, len(ref))
    top_r, top_o = top_ids(ref, max(k, k5)), top_ids(ours, k5)
    five_r = top_r[:k5]
    fifth = lr[five_r[-1]]
    return {
        "logit_nmse": nmse(ours, ref),
        "top1_equal": top_o[0] == top_r[0],
        "top1_gap": lr[top_r[0]] - lr[top_o[0]],
        "top5_overlap": len(set(top_o) & set(five_r)) / k5,
        "top5_gap": max([fifth - lr[t] for t in top_o if t not in five_r], default=0.0),
        "topk_logprob_max_abs": max(abs(lo[t] - lr[t]) for t in top_r[:k]),
        "top5": [[t, lo[t]] for t in top_o],
        "top5_ref": [[t, lr[t]] for t in five_r],
        "not_finite": 0,
    }


def judge_last(m, tol, k):
    """why the measures of last_position fail tol (a TOL row): [] when they pass."""
    if m["not_finite"]:
        return ["%d of our logits are not finite" % m["not_finite"]]
    tie, why = tol["tie_gap"], []
    if not m["logit_nmse"] <= tol["logit_nmse"]:
        why.append("logit NMSE %.3g > %g" % (m["logit_nmse"], tol["logit_nmse"]))
    if not (m["top1_equal"] or m["top1_gap"] <= tie):
        why.append("top-1 %d is not HF's %d (gap %.4g > %g)" % (m["top5"][0][0], m["top5_ref"][0][0],
                                                               m["top1_gap"], tie))
    if not m["top5_gap"] <= tie:
        why.append("an id of our top 5 is %.4g below HF's 5th (> %g)" % (m["top5_gap"], tie))
    if not m["topk_logprob_max_abs"] <= tol["topk_logprob_max_abs"]:
        why.append("log-probabilities of HF's top %d differ by up to %.4g > %g" % (k, m["topk_logprob_max_abs"],
                                                                                  tol["topk_logprob_max_abs"]))
    return why


def read_logits(text, ids, vocab):
    """the last position's logits (nan for null) and the weights' dtype from the
    JSON `inferscope logits` writes, checked against what was asked."""
    try:
        d = json.loads(text)
    except ValueError as e:
        raise OracleError("our logits are not JSON: %s" % e)
    if not isinstance(d, dict):
        raise OracleError("our logits are not a JSON object")
    rows = d.get("logits")
    if d.get("vocab_size") != vocab:
        raise OracleError("our logits have vocab_size %r, the model %d" % (d.get("vocab_size"), vocab))
    if d.get("prompt_ids") != ids or d.get("positions") != [len(ids) - 1]:
        raise OracleError("our logits are not of the last position of the prompt asked for")
    if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], list) or len(rows[0]) != vocab:
        raise OracleError("expected one row of %d logits from our run" % vocab)
    return [float("nan") if x is None else float(x) for x in rows[0]], d.get("dtype")


# ---- our side ------------------------------------------------------------------


def run_ours(cmd, args, timeout):
    t = time.monotonic()
    try:
        p = subprocess.run(cmd + args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OracleError("timed out after %d s: %s" % (timeout, shlex.join(cmd + args)))
    except OSError as e:
        raise OracleError("cannot run %s: %s" % (shlex.join(cmd), e))
    if p.returncode != 0:
        raise OracleError("exit %d: %s\n%s" % (p.returncode, shlex.join(cmd + args), p.stderr.strip()[-2000:]))
    return p.stdout, time.monotonic() - t


def ours_greedy(cmd, model, ids, n, backend, dtype, threads, timeout):
    base = ["generate", "--model", model, "--prompt-ids", ",".join(map(str, ids)), "--print-ids",
            "--ignore-eos", "--quiet", "--backend", backend, "--dtype", dtype, "--threads", str(threads)]
    out, secs = run_ours(cmd, base + ["-n", str(n)], timeout)
    lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise OracleError("no ids from our greedy run:\n" + out)
    return [int(t) for t in lines[0].split()], secs


def ours_logits(cmd, model, ids, vocab, backend, dtype, threads, timeout):
    args = ["logits", "--model", model, "--prompt-ids", ",".join(map(str, ids)), "--backend", backend,
            "--dtype", dtype, "--threads", str(threads)]
    out, secs = run_ours(cmd, args, timeout)
    logits, held = read_logits(out, ids, vocab)
    return logits, held, secs


# ---- the HF side ---------------------------------------------------------------


def hf_load(torch, transformers, model_dir, device, dtype):
    tdt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    kw = dict(local_files_only=True)
    try:
        m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=tdt, **kw)
    except TypeError:  # transformers < 4.56 names it torch_dtype
        m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=tdt, **kw)
    if next(m.parameters()).dtype != tdt:
        m = m.to(tdt)
    return m.to(device).eval()


def hf_logits(torch, model, ids, device):
    """every position's logits for the ids, float64 on the CPU, [T, V]."""
    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long, device=device)
        return model(input_ids=x, use_cache=False).logits[0].double().cpu()


def hf_greedy(torch, model, ids, n, device):
    out, past = [], None
    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long, device=device)
        for _ in range(n):
            r = model(input_ids=x, past_key_values=past, use_cache=True)
            past = r.past_key_values
            nxt = int(torch.argmax(r.logits[0, -1].float()))  # the first of equal maxima: lowest id
            out.append(nxt)
            x = torch.tensor([[nxt]], dtype=torch.long, device=device)
    return out


def dumps(o, depth=0):
    """JSON with one key a line and every list on one line."""
    if isinstance(o, dict) and o:
        pad = " " * (depth + 1)
        items = [pad + json.dumps(k) + ": " + dumps(v, depth + 1) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    return json.dumps(o)


def first_difference(a, b):
    return next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), None)


def compare(hf, run, k, tol):
    """one of our runs against one HF reference: hf["last"] (V logits),
    hf["greedy"], hf["forced"] (log-probabilities after the prompt and each of our
    ids but the last, a torch tensor [N, V]); run["logits"], run["greedy"]."""
    m = last_position(run["logits"], hf["last"], k)
    why = judge_last(m, tol, k)
    ranks, gaps = [], []
    for j, t in enumerate(run["greedy"]):
        row = hf["forced"][j]
        ranks.append(int((row > row[t]).sum()))
        gaps.append(float(row.max() - row[t]))
    first_diff = first_difference(run["greedy"], hf["greedy"])
    m.update({
        "greedy_first_difference": first_diff,
        "greedy_equal": first_diff is None,
        "forced_ranks": ranks,
        "forced_max_gap": max(gaps) if gaps else 0.0,
        "forced_not_top1": sum(1 for r in ranks if r > 0),
    })
    tie = tol["tie_gap"]
    if not m["forced_max_gap"] <= tie:
        j = gaps.index(m["forced_max_gap"])
        why.append("generated id %d at position %d is %.4g below HF's best (> %g)" % (run["greedy"][j], j, gaps[j], tie))
    m["pass"] = not why
    m["why"] = why
    m["tolerance"] = tol
    return m


def oracle(args, torch, transformers):
    model_dir = os.path.abspath(args.model_dir)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    vocab = int(cfg["vocab_size"])
    ids = parse_ids(args.ids) if args.ids else default_ids(vocab)
    if any(i < 0 or i >= vocab for i in ids):
        raise OracleError("prompt ids outside the vocabulary of %d" % vocab)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise OracleError("--device cuda, but torch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
        torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    runs = args.run or (["cuda:bf16", "cpu:f32"] if device == "cuda" else ["cpu:f32", "cpu:bf16"])
    cmd = shlex.split(args.ours) if args.ours else [os.environ.get("IS_INFERSCOPE") or os.path.join(ROOT, "build", "inferscope")]
    report = {
        "model_dir": model_dir, "model_type": cfg.get("model_type"), "vocab_size": vocab,
        "prompt_ids": ids, "n": args.n, "topk": args.topk, "device": device,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "hf": {}, "ours": {}, "compare": {}, "seconds": {},
    }

    # our runs first: the GPU then holds one model at a time
    ours = {}
    for spec in runs:
        backend, _, dt = spec.partition(":")
        dt = dt or "bf16"
        if backend not in TOL or dt not in ("f32", "bf16"):
            raise OracleError("--run %s: expected cuda|cpu:f32|bf16" % spec)
        g, s1 = ours_greedy(cmd, model_dir, ids, args.n, backend, dt, args.threads, args.timeout)
        logits, held, s2 = ours_logits(cmd, model_dir, ids, vocab, backend, dt, args.threads, args.timeout)
        ours[spec] = {"greedy": g, "logits": logits, "backend": backend}
        report["ours"][spec] = {"greedy": g, "weights": held,
                                "top5_logits": [[t, x if math.isfinite(x) else None]
                                                for t, x in ((t, logits[t]) for t in top_ids(logits, 5))]}
        report["seconds"]["ours " + spec] = round(s1 + s2, 2)

    hfs = {}
    for dt in args.dtype:
        t = time.monotonic()
        model = hf_load(torch, transformers, model_dir, device, dt)
        t_load = time.monotonic() - t
        t = time.monotonic()
        last = hf_logits(torch, model, ids, device)[-1].tolist()
        greedy = hf_greedy(torch, model, ids, args.n, device)
        h = {"last": last, "greedy": greedy, "forced": {}}
        for spec, r in ours.items():  # teacher-forced over each of our sequences
            f = torch.log_softmax(hf_logits(torch, model, ids + r["greedy"][:-1], device), dim=-1)
            h["forced"][spec] = f[len(ids) - 1:]
        hfs[dt] = h
        report["hf"][dt] = {"greedy": greedy, "top5_logits": [[t, last[t]] for t in top_ids(last, 5)]}
        report["seconds"]["hf %s load" % dt] = round(t_load, 2)
        report["seconds"]["hf %s run" % dt] = round(time.monotonic() - t, 2)
        del model
        if device == "cuda":
            torch.cuda.empty_cache()

    ok = True
    ref = args.dtype[0]
    for spec, r in ours.items():
        for dt, h in hfs.items():
            hf = {"last": h["last"], "greedy": h["greedy"], "forced": h["forced"][spec]}
            m = compare(hf, r, args.topk, TOL[r["backend"]])
            if dt != ref:  # against a less exact reference: reported, not judged
                m["judged"] = False
            else:
                m["judged"] = True
                ok = ok and m["pass"]
            report["compare"]["%s vs hf-%s" % (spec, dt)] = m
    if "fp32" in hfs and "bf16" in hfs:
        m = last_position(hfs["bf16"]["last"], hfs["fp32"]["last"], args.topk)
        m["greedy_first_difference"] = first_difference(hfs["bf16"]["greedy"], hfs["fp32"]["greedy"])
        report["compare"]["hf-bf16 vs hf-fp32"] = m
    report["pass"] = ok
    return report, ok


def self_test(args, torch, transformers):
    cmd = shlex.split(args.ours) if args.ours else [os.environ.get("IS_INFERSCOPE") or os.path.join(ROOT, "build", "inferscope")]
    with tempfile.TemporaryDirectory(prefix="hf-oracle-") as tmp:
        d = os.path.join(tmp, "tiny")
        run_ours(cmd, ["export", "--model", "preset:tiny", "--out", d, "--dtype", "bf16"], args.timeout)
        args.model_dir = d
        args.device = "cpu"
        args.run = args.run or ["cpu:f32", "cpu:bf16"]
        report, ok = oracle(args, torch, transformers)
    report["self_test"] = True
    return report, ok


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ci/hf-oracle.py", add_help=False,
                                 usage="ci/hf-oracle.py MODEL_DIR [options] | --self-test [--ours CMD]")
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--device", choices=["cuda", "cpu"])
    ap.add_argument("--dtype", default="fp32,bf16")
    ap.add_argument("--ids")
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--topk", type=int, default=20)
    ap.add_argument("--ours")
    ap.add_argument("--run", action="append")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--out")
    ap.add_argument("--self-test", action="store_true")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return EXIT_USAGE if e.code else 0
    if args.help:
        print(__doc__.split("\n", 2)[2])
        return 0
    args.dtype = [d.strip() for d in args.dtype.split(",") if d.strip()]
    bad = None
    if not args.self_test and not args.model_dir:
        bad = "MODEL_DIR is required (or --self-test)"
    elif args.self_test and args.model_dir:
        bad = "--self-test takes no MODEL_DIR"
    elif not args.dtype or any(d not in ("fp32", "bf16") for d in args.dtype):
        bad = "--dtype: fp32, bf16 or both, comma-separated"
    elif not 5 <= args.topk <= 256:
        bad = "--topk: 5 to 256"
    elif args.n < 1:
        bad = "-n: at least 1"
    elif args.ids:
        try:
            parse_ids(args.ids)
        except ValueError:
            bad = "--ids: integers, '1,2,3' or '1 2 3'"
    if bad:
        print("ci/hf-oracle.py: %s\n%s" % (bad, ap.format_usage().strip()), file=sys.stderr)
        return EXIT_USAGE

    torch, transformers, why = import_torch()
    if why:
        print("SKIP: %s (the oracle needs torch and transformers)" % why)
        return EXIT_SKIP
    try:
        report, ok = (self_test if args.self_test else oracle)(args, torch, transformers)
    except (OracleError, OSError, KeyError, ValueError) as e:
        print("ci/hf-oracle.py: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    text = dumps(report)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    for name, m in report["compare"].items():
        if m.get("judged"):
            print("%s: %s%s" % (name, "pass" if m["pass"] else "FAIL", "" if m["pass"] else ": " + "; ".join(m["why"])),
                  file=sys.stderr)
    return 0 if ok else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
