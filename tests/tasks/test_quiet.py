"""The console shows progress, decisions and results; library warnings and tips go only to the log file."""
import io
import logging
import os
import warnings

from audioclust.utils import quiet_console


def test_warnings_and_tips_reach_the_log_file_not_the_console(tmp_path):
    root, screen, path = logging.getLogger(), io.StringIO(), tmp_path / "task.log"
    console, log_file = logging.StreamHandler(screen), logging.FileHandler(path)
    saved = root.level, list(root.handlers)
    root.handlers[:] = [console, log_file]
    root.setLevel(logging.INFO)
    try:
        quiet_console()
        quiet_console()   # idempotent: one filter per handler
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.captureWarnings(True)   # catch_warnings restored showwarning: route it again inside
            warnings.warn("`old_api` is deprecated", DeprecationWarning, stacklevel=1)
        logging.getLogger("lightning.pytorch.utilities.rank_zero").info("💡 Tip: try installing litlogger")
        logging.getLogger("lightning.pytorch.utilities.rank_zero").info("GPU available: False, used: False")
        logging.getLogger("audioclust").info("fit: 80 clips in 5 clusters")
        logging.getLogger("audioclust").error("ConfigError: k too large", extra={"file_only": True})   # run_task's
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])
        log_file.close()
    shown, kept = screen.getvalue(), path.read_text()
    assert "GPU available" in shown and "80 clips" in shown
    assert "deprecated" not in shown and "litlogger" not in shown and "k too large" not in shown
    assert "k too large" in kept
    assert "deprecated" in kept and "litlogger" in kept and "80 clips" in kept
    assert len(console.filters) == 1


def test_ranks_that_ddp_spawn_starts_show_no_library_warnings(monkeypatch):
    """embed.strategy=ddp_spawn: its ranks are fresh interpreters that run no task (no quiet_console); they inherit
    warnings off (Lightning's srun hint and its deprecations reached the screen before), other strategies and a
    user's own PYTHONWARNINGS are left alone."""
    import subprocess
    import sys

    from audioclust.embed.inference import spawned_ranks_quiet

    def child_stderr():
        code = "import warnings; warnings.warn('`old_api` is deprecated', UserWarning)"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr

    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    with spawned_ranks_quiet("ddp_spawn"):
        assert child_stderr() == ""
    assert "PYTHONWARNINGS" not in os.environ
    from lightning.pytorch.strategies import DDPStrategy

    with spawned_ranks_quiet(DDPStrategy(start_method="spawn")):   # a strategy object, not its name
        assert child_stderr() == ""
    with spawned_ranks_quiet("ddp"):
        assert "deprecated" in child_stderr()
    monkeypatch.setenv("PYTHONWARNINGS", "default")
    with spawned_ranks_quiet("ddp_spawn"):
        assert "deprecated" in child_stderr()
