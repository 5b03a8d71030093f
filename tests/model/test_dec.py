import json

import pytest
import torch
from common_utils import run_script
from sklearn.datasets import make_blobs

from audioclust.model.dec import DECHead


def test_soft_assignments_and_sharpened_targets():
    head = DECHead(3, 2)
    head.centroids.data = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    q = head.soft_assign(torch.tensor([[0.1, 0.0], [4.0, 0.5], [2.5, 2.5]]))
    assert torch.allclose(q.sum(1), torch.ones(3)) and q[0].argmax() == 0 and q[1].argmax() == 1
    p = DECHead.sharpen(q)
    assert torch.allclose(p.sum(1), torch.ones(3)) and (p.max(1).values >= q.max(1).values - 1e-6).all()


def test_refresh_initialises_by_kmeans_and_the_loss_pulls_towards_targets():
    x, y = make_blobs(300, n_features=5, centers=3, cluster_std=1.5, random_state=0)
    z = torch.tensor(x, dtype=torch.float32)
    head = DECHead(3, 5, seed=0)
    assert not head.active()
    head.refresh(z, torch.arange(300), 300)
    assert head.active() and head.targets.shape == (300, 3)
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    first = head.loss(z, torch.arange(300)).item()
    for _ in range(20):
        opt.zero_grad()
        loss = head.loss(z, torch.arange(300))
        loss.backward()
        opt.step()
    assert loss.item() < first


@pytest.mark.slow
def test_idec_model_trains_and_cluster_reports_both(tmp_path):
    run = tmp_path / "run"
    p = run_script("train.py", "debug=default", "model=idec", "model.dec.start_epoch=1", "trainer.max_epochs=3",
                   "data.n_clusters=5", f"paths.cache_dir={tmp_path}/c", "logger=csv", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    state = torch.load(run / "model.pt", weights_only=True)["state_dict"]
    assert state["dec.initialised"] and state["dec.centroids"].shape[0] == 5
    p = run_script("cluster.py", f"run_dir={run}", "kmeans.k=5", f"hydra.run.dir={run}/fit", "wandb.enabled=false",
                   "report.plots=false")
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((run / "fit" / "metrics.json").read_text())
    assert {"acc", "nmi", "ari"} <= set(m["dec"]) and m["dec"]["n_clips"] == m["n_clips"]
    assert "train/dec_epoch" in next(run.glob("csv/*/metrics.csv")).read_text()
