"""The torch.stft mel path equals nnAudio's conv1d MelSpectrogram; the decoded-clip cache returns the same clips."""
import numpy as np
import pytest
import soundfile as sf
import torch
from common_utils import chirp, noise

from audioclust.data.datamodule import AudioDataModule
from audioclust.frontend import Frontend


@pytest.mark.parametrize("sr,n_fft,n_mels", [(8000, 256, 24), (16000, 1024, 64)])
def test_fast_mel_equals_nnaudio(sr, n_fft, n_mels):
    fe = Frontend(sr=sr, n_fft=n_fft, n_mels=n_mels, block_size=(n_mels, 32))
    assert fe._fast_mel()
    wave = torch.from_numpy(np.stack([chirp(100, sr / 3, sr=sr), noise(1, sr=sr)]))
    ref = fe.spec(wave)  # nnAudio's own forward (conv1d Fourier kernels)
    fast = fe._mel_power(wave)
    assert fast.shape == ref.shape
    assert (fast - ref).abs().max() <= 1e-4 * ref.abs().max()


def test_batched_stretch_equals_per_clip_linear_interpolation():
    fe = Frontend(sr=8000, n_fft=256, n_mels=24, align="stretch", block_size=(24, 32))
    s = torch.randn(40, 24, 63, generator=torch.Generator().manual_seed(0))
    lengths = torch.cat([torch.tensor([0, 1, 128, 8000, 20000]), torch.randint(1, 9000, (35,))])
    frames = (lengths // fe.hop_length + 1).clamp(2, 63).tolist()
    ref = torch.stack([torch.nn.functional.interpolate(x[None, :, :n], size=63, mode="linear", align_corners=True)[0]
                       for x, n in zip(s, frames)])
    torch.testing.assert_close(fe._stretch(s, lengths), ref, rtol=1e-5, atol=1e-5)
    assert not torch.equal(fe._stretch(s, lengths), s)  # short clips really are stretched


def test_cache_serves_later_epochs_without_decoding(tmp_path, monkeypatch):
    for i in range(5):
        sf.write(tmp_path / f"c{i}.wav", noise(i, sr=8000, seconds=0.5), 8000)
    dm = AudioDataModule(str(tmp_path), sr=8000, clip_seconds=0.5, val_fraction=0, batch_size=5, cache_mb=1)
    dm.setup("fit")
    ds = dm.train_dataloader().dataset
    first = [ds[i]["wave"].clone() for i in range(5)]
    import audioclust.data.dataset as dataset

    monkeypatch.setattr(dataset, "load_chunk", lambda *a, **k: pytest.fail("decoded again"))
    for i in range(5):
        assert torch.equal(ds[i]["wave"], first[i])
    monkeypatch.undo()
    small = AudioDataModule(str(tmp_path), sr=8000, clip_seconds=0.5, val_fraction=0, batch_size=5, cache_mb=0.04)
    small.setup("fit")
    ds = small.train_dataloader().dataset
    [ds[i] for i in range(5)]
    assert len(ds.cache) == 2  # 0.04 MB (41,943 bytes) holds 2 clips of 4,000 float32 samples: the budget is kept
