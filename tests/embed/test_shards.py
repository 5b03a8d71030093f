"""Sharded embeddings: per-rank shards merged exactly once; k-means on a memory-mapped sample, streamed assignment."""
import csv
import json

import numpy as np
import pytest
import soundfile as sf
from common_utils import chirp, noise, run_script, tone
from torch.utils.data import DistributedSampler

from audioclust import io
from audioclust.cluster import kmeans
from audioclust.embed.shards import load_merged, merge_shards


def test_merge_drops_distributed_sampler_padding(tmp_path):
    n, world, d = 7, 2, 3
    emb = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    for rank in range(world):  # what torch's DistributedSampler hands each rank: 4 + 4, one sample repeated
        ids = np.array(list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False)))
        assert len(ids) == 4
        io.write_npy(tmp_path / f"shard-{rank:03d}-of-002.embedding.npy", emb[ids])
        io.write_npy(tmp_path / f"shard-{rank:03d}-of-002.sample_id.npy", ids)
        io.write_npy(tmp_path / f"shard-{rank:03d}-of-002.ok.npy", np.ones(len(ids), bool))
    info = merge_shards(tmp_path, chunk=2)
    assert info["duplicates_dropped"] == 1 and info["rows_per_shard"] == [4, 4] and info["n_samples"] == n
    merged = load_merged(tmp_path)
    assert isinstance(merged["embedding"], np.memmap)
    np.testing.assert_array_equal(merged["sample_id"], np.arange(n))
    np.testing.assert_array_equal(merged["embedding"], emb)
    assert not list(tmp_path.glob("shard-*"))


def test_kmeans_trains_on_a_sample_of_a_memmap_and_assigns_in_batches(tmp_path):
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((4, 8)).astype(np.float32) * 10
    x = (centers[rng.integers(0, 4, 5000)] + rng.standard_normal((5000, 8))).astype(np.float32)
    io.write_npy(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    sample = kmeans.training_sample(mm, 4, 50, seed=0)
    assert sample.shape == (200, 8) and len(np.unique(sample, axis=0)) == 200
    cen = kmeans.fit_kmeans(mm, 4, niter=20, max_points_per_centroid=50, init="kmeans++")
    assert np.sort(np.linalg.norm(cen[:, None] - centers[None], axis=2).min(0)).max() < 1.0  # each true centre found (sampling error ~0.4)
    pre = kmeans.Preprocess("none").fit(x)
    streamed = kmeans.assign(mm, cen, batch=333, transform=pre)
    whole = kmeans.assign(x, cen, batch=len(x))
    np.testing.assert_array_equal(streamed[0], whole[0])
    np.testing.assert_allclose(streamed[1], whole[1], rtol=1e-5)
    with pytest.raises(Exception, match="unknown kmeans.init"):
        kmeans.fit_kmeans(x, 4, init="nope")


def test_lloyd_step_streamed_over_a_memmap_is_the_exact_mean_and_lowers_inertia(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3001, 6)).astype(np.float32)
    io.write_npy(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    cen = np.vstack([x[:5], np.full((1, 6), 1e3, np.float32)])  # the last centroid gets no rows
    moved = kmeans.lloyd_step(mm, cen, gpu=False, batch=700)
    labels, d = kmeans.assign(x, cen, gpu=False)
    for j in range(5):
        np.testing.assert_allclose(moved[j], x[labels == j].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(moved[5], cen[5])
    assert (kmeans.assign(x, moved, gpu=False)[1] ** 2).sum() < (d ** 2).sum()
    sampled = kmeans.fit_kmeans(x, 5, niter=5, max_points_per_centroid=40, gpu=False)
    refined = kmeans.fit_kmeans(x, 5, niter=5, max_points_per_centroid=40, gpu=False, refine=1)
    np.testing.assert_allclose(refined, kmeans.lloyd_step(x, sampled, gpu=False), rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="kmeans.refine must be >= 0"):
        kmeans.fit_kmeans(x, 5, refine=-1)


@pytest.mark.slow
def test_cluster_embeds_on_two_ddp_ranks_every_clip_exactly_once(tmp_path):
    clips = tmp_path / "clips"
    makers = [lambda i: tone(300 + 20 * i), lambda i: chirp(200, 4000), lambda i: noise(i)]
    for i in range(13):  # 13 clips: not divisible by 2 ranks
        (clips / f"k{i % 3}").mkdir(parents=True, exist_ok=True)
        sf.write(clips / f"k{i % 3}" / f"c{i:02d}.wav", makers[i % 3](i), 16000)
    run = tmp_path / "run"
    common = ["report.plots=false", "report.explorer=false", "wandb.enabled=false", "kmeans.k=3", "threads=1",
              "data.batch_size=4"]
    p = run_script("train.py", "debug=default", "data=folder", f"data.root={clips}", "data.max_files=null",
                   "trainer.max_epochs=1", "threads=1", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={run}/fit/ddp", "embed.devices=2",
                   "embed.strategy=ddp", *common)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in p.stdout + p.stderr
    out = run / "fit" / "ddp"
    info = json.loads((out / "embed" / "shards.json").read_text())
    assert info["world_size"] == 2 and sum(info["rows_per_shard"]) >= 13 and min(info["rows_per_shard"]) > 0
    np.testing.assert_array_equal(np.load(out / "embed" / "sample_id.npy"), np.arange(13))
    with open(out / "assignments.csv", newline="") as f:
        paths = [r["path"] for r in csv.DictReader(f)]
    assert sorted(paths) == sorted(str(p) for p in clips.glob("*/*.wav"))  # each clip once
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={run}/fit/one", *common)
    assert p.returncode == 0, p.stderr[-3000:]
    np.testing.assert_allclose(np.load(out / "embeddings.npy"), np.load(run / "fit/one/embeddings.npy"),
                               rtol=1e-4, atol=1e-5)
    assert not list(tmp_path.glob("**/*ddp_process_1*"))  # no per-rank output dirs
