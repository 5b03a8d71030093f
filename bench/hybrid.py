"""The hybrid issue 14 and issue 26 asked for, measured: an autoencoder trained on the set itself over a pretrained
encoder's frame features (frames of features instead of spectrogram frames), against that encoder's own embedding
of the same frames, over 5 seeds on every labelled set here.

    python bench/hybrid.py                         # drums, sfx, FSDD (1,500 files), synthetic, kits, instruments, percussion
    python bench/hybrid.py --data drums kits --seeds 0 1
    python bench/hybrid.py --adapter               # encoder=aisfx as a run makes it: encoder.pooling max vs mean_max

Frames: aisfx's (the general-sound model; its adapter's torch front end and network), read before the network pools
them: its last convolution's map averaged over frequency, 512 features every 100/12 spectrogram frames (~0.19 s),
12 a block. Each file, whole, is cut into the package's 2.3 s blocks one after another (no overlap; a clip shorter
than a block is one zero-padded block), and a frame counts while it covers the file's audio. Cached under --cache.

Recipes (labels only score; NMI of UMAP + k-means with the defaults, k = the classes, mean ± std over the seeds):
- aisfx's embedding of the same frames: each block's frames' maximum (the network's own pooling), the blocks' mean;
- the frames' mean and std, or mean and max, over the file, no training (what another pooling alone gives);
- hybrid: a frame autoencoder trained on the set's frames (the block autoencoder's idea over feature frames:
  per-feature z-score; encoder Conv1d 512 -> 128 over 3 frames, GELU, 1x1 to the code; decoder the mirror; masked
  mean squared error, Adam 1e-3, batches of 64 blocks, --epochs), each file's codes' mean and std over its frames;
  seed s trains with seed s and clusters with seed s.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from assign import nmi
from combine import SETS
from common import machine, mean_std, write_section
from sets import labels_of, spread, synthetic_root

FRAMES = 12           # aisfx's frames a block, after its three 2x2 poolings of 100 spectrogram frames
AUDIO = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")


def files_of(name: str) -> tuple[list[Path], list[str]]:
    """The set's files (as bench/combine.py reads it: every audio file, FSDD's evenly spread 1,500) and labels."""
    root, labels, n, _ = SETS[name]
    root = Path(root or synthetic_root())
    files = spread(sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO), n)
    return files, labels_of(files, labels.get("pattern"))


def aisfx_frames(enc, path: Path):
    """(blocks (b, 512, 12) float32, valid frames per block (b,)) of one file, whole."""
    import torch

    from audioclust.data.audio import load

    wave = torch.from_numpy(load(str(path), enc.sr))
    wave = torch.nn.functional.pad(wave, (0, max(0, enc.n_fft - len(wave))))
    spec, counts = enc.spectrogram(wave[None], torch.tensor([len(wave)]))
    t = counts[0]
    nb = max(1, -(-t // enc.block))
    s = torch.nn.functional.pad(spec[0, :t], (0, 0, 0, nb * enc.block - t))
    with torch.no_grad():
        x = enc.frame_map(s.reshape(nb, enc.block, -1))                     # (b, 512, 12)
    left = t - np.arange(nb) * enc.block
    valid = np.clip(np.ceil(left / enc.block * FRAMES), 1, FRAMES).astype(np.int64)
    return x.float().numpy(), valid


def frames_of(name: str, cache: Path) -> dict:
    out = cache / f"{name}-aisfx-frames.npz"
    if not out.is_file():
        import torch

        from audioclust.embed.encoders.aisfx import AisfxEncoder

        torch.manual_seed(0)
        enc = AisfxEncoder(precision="32")
        files, labels = files_of(name)
        t, blocks, valid, owner = time.time(), [], [], []
        for i, p in enumerate(files):
            b, v = aisfx_frames(enc, p)
            blocks.append(b), valid.append(v), owner.append(np.full(len(v), i))
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(out, blocks=np.concatenate(blocks), valid=np.concatenate(valid), owner=np.concatenate(owner),
                 labels=np.array(labels), seconds=time.time() - t)
        print(name, f"{len(files)} files, {sum(map(len, valid))} blocks, {time.time() - t:.0f} s", flush=True)
    return dict(np.load(out))


def pooled(per_frame: np.ndarray, valid: np.ndarray, owner: np.ndarray, second: str = "std") -> np.ndarray:
    """Each file's mean and std (or max) over its valid frames of (blocks, D, 12) features."""
    mask = np.arange(FRAMES)[None] < valid[:, None]                         # (b, 12)
    n = np.bincount(owner, weights=mask.sum(1))
    s1 = np.zeros((owner.max() + 1, per_frame.shape[1]))
    s2 = np.zeros_like(s1)
    np.add.at(s1, owner, (per_frame * mask[:, None]).sum(2))
    np.add.at(s2, owner, (per_frame ** 2 * mask[:, None]).sum(2))
    mean = s1 / n[:, None]
    if second == "max":
        top = np.full_like(s1, -np.inf)
        np.maximum.at(top, owner, np.where(mask[:, None], per_frame, -np.inf).max(2))
        return np.concatenate([mean, top], 1).astype(np.float32)
    return np.concatenate([mean, np.sqrt(np.maximum(s2 / n[:, None] - mean ** 2, 0))], 1).astype(np.float32)


def own_embedding(blocks: np.ndarray, valid: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """aisfx's pooling: each block's maximum over its frames (the network's own), then the file's blocks' mean."""
    z = blocks.max(2)
    out = np.zeros((owner.max() + 1, z.shape[1]))
    np.add.at(out, owner, z)
    return (out / np.bincount(owner)[:, None]).astype(np.float32)


def hybrid_codes(blocks: np.ndarray, valid: np.ndarray, seed: int, code: int, epochs: int) -> np.ndarray:
    """The frame autoencoder trained on these blocks (seed): the codes of every block, (b, code, 12)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    x = torch.from_numpy(blocks)
    mask = (torch.arange(FRAMES)[None] < torch.from_numpy(valid)[:, None]).float()[:, None]
    m = (x * mask).sum((0, 2), keepdim=True) / mask.sum()
    sd = ((((x - m) ** 2) * mask).sum((0, 2), keepdim=True) / mask.sum()).sqrt() + 1e-4
    x = (x - m) / sd
    d = x.shape[1]
    enc = nn.Sequential(nn.Conv1d(d, 128, 3, padding=1), nn.GELU(), nn.Conv1d(128, code, 1))
    dec = nn.Sequential(nn.Conv1d(code, 128, 1), nn.GELU(), nn.Conv1d(128, d, 3, padding=1))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 1e-3)
    for _ in range(epochs):
        for b in torch.randperm(len(x)).split(64):
            loss = (((dec(enc(x[b])) - x[b]) ** 2) * mask[b]).sum() / (mask[b].sum() * d)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return enc(x).numpy()


def measure(name: str, cache: Path, seeds, code: int, epochs: int) -> dict:
    import audioclust

    f = frames_of(name, cache)
    blocks, valid, owner = f["blocks"], f["valid"], f["owner"]
    y = np.unique(f["labels"], return_inverse=True)[1]
    k = int(y.max()) + 1
    fixed = {"aisfx's embedding": own_embedding(blocks, valid, owner), "frames' mean and std": pooled(blocks, valid, owner),
             "frames' mean and max": pooled(blocks, valid, owner, "max")}
    out: dict = {"files": len(y), "blocks": len(valid), "k": k, "recipes": {}, "train_s": []}
    for seed in seeds:
        for recipe, x in fixed.items():
            out["recipes"].setdefault(recipe, []).append(nmi(y, audioclust.cluster(x, k=k, seed=seed).labels_))
        t = time.perf_counter()
        z = pooled(hybrid_codes(blocks, valid, seed, code, epochs), valid, owner)
        out["train_s"].append(time.perf_counter() - t)
        out["recipes"].setdefault("hybrid", []).append(nmi(y, audioclust.cluster(z, k=k, seed=seed).labels_))
        print(name, seed, {r: round(v[-1], 3) for r, v in out["recipes"].items()}, flush=True)
    return out


def adapter(name: str, cache: Path, seeds) -> dict:
    """--adapter: encoder=aisfx through audioclust.embed with the folder defaults (as bench/combine.py embeds each set),
    encoder.pooling=max (the network's embedding) and mean_max (its frames' mean and maximum), the same seeds."""
    import audioclust

    root, labels, files, windowing = SETS[name]
    out: dict = {"recipes": {}, "seconds": {}}
    for pooling in ("max", "mean_max"):
        t = time.perf_counter()
        emb = audioclust.embed(str(root or synthetic_root()), encoder="aisfx", labels=labels, max_files=files,
                               windowing=windowing, store=str(cache / "store"), encoder_options={"pooling": pooling})
        out["seconds"][pooling] = time.perf_counter() - t
        y = np.unique(list(emb.label), return_inverse=True)[1]
        out["rows"], out["k"] = len(y), int(y.max()) + 1
        out["recipes"][pooling] = [nmi(y, audioclust.cluster(emb, k=out["k"], seed=s).labels_) for s in seeds]
        print(name, pooling, [round(v, 3) for v in out["recipes"][pooling]], flush=True)
    return out


def adapter_table(results: dict, args) -> str:
    sets = list(results)
    lines = [f"## {args.section}", "", f"`python bench/hybrid.py --adapter --data {' '.join(args.data)} --seeds "
             f"{' '.join(map(str, args.seeds))}`; {machine()}.", "", " ".join(adapter.__doc__.split()[1:]) + " NMI of UMAP + "
             "k-means with the defaults (k = the classes), mean ± std over the seeds; labels only score.", "",
             "| encoder=aisfx | " + " | ".join(f"{s} ({results[s]['rows']} rows, k={results[s]['k']})" for s in sets) + " |",
             "|---|" + "---|" * len(sets)]
    for pooling, text in (("max", "pooling=max (the network's 512-d embedding)"),
                          ("mean_max", "pooling=mean_max (its frames' mean and maximum, 1,024-d)")):
        lines.append(f"| {text} | " + " | ".join(mean_std(results[s]["recipes"][pooling]) for s in sets) + " |")
    diffs = [np.mean(results[s]["recipes"]["mean_max"]) - np.mean(results[s]["recipes"]["max"]) for s in sets]
    lines.append("| mean_max − max | " + " | ".join(f"{d:+.3f}" for d in diffs) + " |")
    lines += ["", f"Mean over the sets: {np.mean(diffs):+.3f}; lowest {min(diffs):+.3f}. Embedding seconds (first run, "
              "nothing stored): " + ", ".join(f"{s} {results[s]['seconds']['max']:.0f} / {results[s]['seconds']['mean_max']:.0f}"
                                                for s in sets) + " (max / mean_max)."]
    return "\n".join(lines) + "\n"


def table(results: dict, args) -> str:
    sets = list(results)
    recipes = list(next(iter(results.values()))["recipes"])
    names = {"hybrid": f"hybrid: frame autoencoder trained on the set (code {args.code}, {args.epochs} epochs), codes' mean and std"}
    lines = [f"## {args.section}", "", f"`python bench/hybrid.py --data {' '.join(args.data)} --seeds "
             f"{' '.join(map(str, args.seeds))} --code {args.code} --epochs {args.epochs}`; {machine()}.", "",
             " ".join(__doc__.split("\n\n", 2)[2].split()), "",
             "| recipe | " + " | ".join(f"{s} ({results[s]['files']} files, k={results[s]['k']})" for s in sets) + " |",
             "|---|" + "---|" * len(sets)]
    for r in recipes:
        lines.append(f"| {names.get(r, r)} | " + " | ".join(mean_std(results[s]["recipes"][r]) for s in sets) + " |")
    diffs = [np.mean(results[s]["recipes"]["hybrid"]) - np.mean(results[s]["recipes"]["aisfx's embedding"]) for s in sets]
    lines.append("| hybrid − aisfx's embedding | " + " | ".join(f"{d:+.3f}" for d in diffs) + " |")
    lines += ["", "Training seconds per seed (2 threads): " + ", ".join(
        f"{s} {np.mean(results[s]['train_s']):.0f} ({results[s]['blocks']} blocks)" for s in sets) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    import argparse

    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--cache", default="/tmp/hybrid", help="each set's frames, <set>-aisfx-frames.npz (reused)")
    ap.add_argument("--code", type=int, default=64, help="code channels a frame")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--section", default=None, help="default: \"A hybrid: an autoencoder over a pretrained encoder's "
                    "frames\", with --adapter \"aisfx's frames pooled (encoder.pooling)\"")
    ap.add_argument("--adapter", action="store_true", help="encoder=aisfx as a run makes it, pooling max vs mean_max")
    ap.add_argument("--out", default=None, help="write the section to this file instead of BENCHMARKS.md")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cache = Path(args.cache)
    if args.adapter:
        args.section = args.section or "aisfx's frames pooled (encoder.pooling)"
        results = {name: adapter(name, cache, args.seeds) for name in args.data}
        (cache / "adapter.json").write_text(json.dumps(results))
        text = adapter_table(results, args)
        print(text)
        write_section(args.section, text, args.out)
        return
    args.section = args.section or "A hybrid: an autoencoder over a pretrained encoder's frames"
    results = {name: measure(name, cache, args.seeds, args.code, args.epochs) for name in args.data}
    (cache / "hybrid.json").write_text(json.dumps(results))
    text = table(results, args)
    print(text)
    write_section(args.section, text, args.out)


if __name__ == "__main__":
    sys.exit(main())
