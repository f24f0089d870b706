#!/usr/bin/env python3
"""ci/hf-oracle.py — an independent oracle: Hugging Face transformers against inferscope.

usage: ci/hf-oracle.py MODEL_DIR [options]
       ci/hf-oracle.py --self-test [--ours CMD] [--out FILE]

MODEL_DIR is a Hugging Face directory (`inferscope export --model preset:NAME --out
DIR` writes one). transformers' AutoModelForCausalLM loads it on --device in each
dtype of --dtype (token ids go in directly: no tokenizer); it computes the
log-probabilities at the prompt's last position and N greedy ids (a plain argmax
loop over its KV cache, EOS ignored). Then our binary runs the same prompt for
each --run BACKEND:DTYPE:

  inferscope generate --model DIR --prompt-ids IDS -n N --print-ids --ignore-eos
      --backend B --dtype D                               (N greedy ids)
  ... -n 1 --strategy beam:w=K,lp=0                       (the K best next tokens)

Our CLI prints no logits. A beam search of width K over one token ranks the K most
likely next tokens with their log-probabilities (log-softmax of the logits, in
float64), so what is compared is the top K of the last position, not all V logits:
  - topk_overlap: |our top 5 ∩ HF's top 5| / 5 (and top1_equal);
  - topk_logprob_max_abs: the largest difference between our K log-probabilities
    and HF's at the same ids (nats); topk_logit_nmse: their NMSE once both are
    centred (the log-sum-exp cancels: the NMSE of the logits on those ids; on a
    random-weight model the top K lie close together, so it is reported, not judged);
  - greedy: the first position where our N ids and HF's differ (null: none);
  - teacher-forced: HF run over the prompt followed by our ids; for each of our
    ids, its rank under HF and its gap (HF's best log-probability minus that of
    our id). A greedy difference that is a near-tie shows as a small gap.

Every run is compared with the first HF dtype (fp32 by default: the weights of an
exported BF16 directory are exact in fp32, so HF fp32 is the most exact
reference; the others are reported, not judged); with two HF dtypes, HF bf16
against HF fp32 over all V logits is reported too (the yardstick for a BF16 run).
A run passes when its top-1 agrees or is a near-tie (gap <= the tie tolerance),
its top-K log-probabilities are within the tolerance of its backend, and every
teacher-forced gap is within the tie tolerance: CPU runs 1e-3 nats for both (the
CPU computes in fp32 whatever --dtype holds the weights in, and an exported
directory's weights are exact in either; our beam prints 6 decimals; fp32 sums in
another order differ by ~1e-6); CUDA runs 0.15 nats for both (activations rounded
to BF16 before each GEMM and a BF16 KV cache, with --dtype f32 too: a logit error
of a few per cent of the logits' spread, which is ~1 on the presets' random weights).

Options:
  --device cuda|cpu      where transformers runs (default: cuda when available)
  --dtype LIST           HF dtypes, comma-separated: fp32, bf16 (default fp32,bf16)
  --ids IDS              prompt ids, '1,2,3' or '1 2 3' (default: 32 fixed ids in the vocabulary)
  -n N                   greedy ids to compare (default 32)
  --topk K               next tokens ranked by the beam (default 20, 5..256)
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
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

EXIT_MISMATCH, EXIT_USAGE, EXIT_ERROR, EXIT_SKIP = 1, 2, 3, 77
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = {  # (largest top-K log-probability difference, near-tie gap), in nats
    "cpu": (1e-3, 1e-3),    # fp32 compute on the CPU, whatever --dtype holds the weights in
    "cuda": (0.15, 0.15),   # BF16 activations into each GEMM and a BF16 KV cache, either --dtype
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


def ours_topk(cmd, model, ids, k, backend, dtype, threads, timeout):
    base = ["generate", "--model", model, "--prompt-ids", ",".join(map(str, ids)), "--print-ids",
            "--ignore-eos", "--quiet", "--backend", backend, "--dtype", dtype, "--threads", str(threads)]
    out, secs = run_ours(cmd, base + ["-n", "1", "--strategy", "beam:w=%d,lp=0" % k], timeout)
    top = []  # '# beam H score S logprob L: ID'
    for ln in out.splitlines():
        if ln.startswith("# beam "):
            head, _, toks = ln.partition(":")
            f = head.split()
            top.append((int(toks.split()[0]), float(f[f.index("logprob") + 1])))
    if len(top) != k:
        raise OracleError("expected %d beam lines from our run, got %d:\n%s" % (k, len(top), out))
    return top, secs


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


def hf_logprobs(torch, model, ids, device):
    """log-softmax (float64) of every position's logits for the ids, [T, V]."""
    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long, device=device)
        logits = model(input_ids=x, use_cache=False).logits[0]
        return torch.log_softmax(logits.double(), dim=-1).cpu()


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


def nmse(got, ref):
    num = sum((g - r) ** 2 for g, r in zip(got, ref))
    den = sum(r * r for r in ref)
    return 0.0 if num == 0 else (num / den if den else float("inf"))


def centred(v):
    m = sum(v) / len(v)
    return [x - m for x in v]


def compare(torch, hf, run, tol):
    """metrics of one of our runs against one HF reference (dicts below)."""
    last = hf["last"]
    top = run["topk"]
    ours_ids = [t for t, _ in top]
    hf_lp = [float(last[t]) for t in ours_ids]
    k5 = min(5, len(top))
    hf_top = [int(i) for i in torch.topk(last, len(top)).indices]
    best = float(last[hf_top[0]])
    gap1 = best - float(last[ours_ids[0]])
    forced = hf["forced"]
    ranks, gaps = [], []
    for j, t in enumerate(run["greedy"]):
        row = forced[j]
        ranks.append(int((row > row[t]).sum()))
        gaps.append(float(row.max() - row[t]))
    first_diff = next((j for j, (a, b) in enumerate(zip(run["greedy"], hf["greedy"])) if a != b), None)
    m = {
        "top1_equal": ours_ids[0] == hf_top[0],
        "top1_gap": gap1,
        "topk_overlap": len(set(ours_ids[:k5]) & set(hf_top[:k5])) / k5,
        "topk_logit_nmse": nmse(centred([lp for _, lp in top]), centred(hf_lp)),
        "topk_logprob_max_abs": max(abs(lp - h) for (_, lp), h in zip(top, hf_lp)),
        "greedy_first_difference": first_diff,
        "greedy_equal": first_diff is None,
        "forced_ranks": ranks,
        "forced_max_gap": max(gaps) if gaps else 0.0,
        "forced_not_top1": sum(1 for r in ranks if r > 0),
    }
    lp_tol, tie = tol
    why = []
    if not (m["top1_equal"] or gap1 <= tie):
        why.append("top-1 %d is not HF's %d (gap %.4g > %g)" % (ours_ids[0], hf_top[0], gap1, tie))
    if not m["topk_logprob_max_abs"] <= lp_tol:
        why.append("top-%d log-probabilities differ by up to %.4g > %g" % (len(top), m["topk_logprob_max_abs"], lp_tol))
    if not m["forced_max_gap"] <= tie:
        j = gaps.index(m["forced_max_gap"])
        why.append("generated id %d at position %d is %.4g below HF's best (> %g)" % (run["greedy"][j], j, gaps[j], tie))
    m["pass"] = not why
    m["why"] = why
    m["tolerance"] = {"topk_logprob_max_abs": lp_tol, "tie_gap": tie}
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
        "logits_note": "our CLI prints no logits: the top-K log-probabilities of a width-K beam over one token are compared",
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
        top, s2 = ours_topk(cmd, model_dir, ids, args.topk, backend, dt, args.threads, args.timeout)
        ours[spec] = {"greedy": g, "topk": top, "backend": backend}
        report["ours"][spec] = {"greedy": g, "topk": [[t, lp] for t, lp in top]}
        report["seconds"]["ours " + spec] = round(s1 + s2, 2)

    hfs = {}
    for dt in args.dtype:
        t = time.monotonic()
        model = hf_load(torch, transformers, model_dir, device, dt)
        t_load = time.monotonic() - t
        t = time.monotonic()
        lp = hf_logprobs(torch, model, ids, device)
        greedy = hf_greedy(torch, model, ids, args.n, device)
        h = {"last": lp[-1], "greedy": greedy, "forced": {}}
        for spec, r in ours.items():  # teacher-forced over each of our sequences
            f = hf_logprobs(torch, model, ids + r["greedy"][:-1], device)
            h["forced"][spec] = f[len(ids) - 1:]
        hfs[dt] = h
        report["hf"][dt] = {"greedy": greedy,
                            "top": [[int(i), float(lp[-1][i])] for i in torch.topk(lp[-1], 5).indices]}
        report["seconds"]["hf %s load" % dt] = round(t_load, 2)
        report["seconds"]["hf %s run" % dt] = round(time.monotonic() - t, 2)
        del model
        if device == "cuda":
            torch.cuda.empty_cache()

    ok = True
    ref = args.dtype[0]
    for spec, r in ours.items():
        for dt, h in hfs.items():
            m = compare(torch, {"last": h["last"], "greedy": h["greedy"], "forced": h["forced"][spec]}, r, TOL[r["backend"]])
            if dt != ref:  # against a less exact reference: reported, not judged
                m["judged"] = False
            else:
                m["judged"] = True
                ok = ok and m["pass"]
            report["compare"]["%s vs hf-%s" % (spec, dt)] = m
    if "fp32" in hfs and "bf16" in hfs:
        a, b = hfs["bf16"]["last"], hfs["fp32"]["last"]
        report["compare"]["hf-bf16 vs hf-fp32"] = {
            "logit_nmse_all": nmse(centred(a.tolist()), centred(b.tolist())),
            "top1_equal": int(torch.argmax(a)) == int(torch.argmax(b)),
            "greedy_first_difference": next((j for j, (x, y) in enumerate(zip(hfs["bf16"]["greedy"], hfs["fp32"]["greedy"])) if x != y), None),
        }
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
