"""Stage timings of a run (audioclust/utils.py Stages, written by cluster.py to timings.json)."""
import time

import numpy as np

from audioclust.utils import Stages


def test_stages_record_time_and_the_peak_memory_each_one_reached():
    stages = Stages()
    time.sleep(0.05)
    stages.done("first")
    big = np.ones(512 * 2 ** 20 // 8)   # 512 MiB touched: above any earlier peak of the test process
    big[::512] = 2.0
    stages.done("second")
    assert stages.seconds["first"] >= 0.05 and set(stages.peak_mb) == {"first", "second"}
    assert stages.peak_mb["second"] - stages.peak_mb["first"] > 100 and stages.peak_mb["second"] > 512
    assert stages.total() >= stages.seconds["first"] + stages.seconds["second"]
    record = stages.record()
    assert set(record["stages_s"]) == {"first", "second"} and record["total_s"] >= record["stages_s"]["first"]
    del big
