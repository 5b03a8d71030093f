"""A linear probe on the named clips (Perch's agile loop on our store): scikit-learn's logistic regression on the
embeddings of every row with a name, applied to every row with a probability per name; "review next" is the rows it
is least sure of (margin sampling: the smallest gap between its two most probable names), which a user listens to
and names in the next curation.json."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Probe(NamedTuple):
    names: list[str]          # the classes, sorted
    proba: np.ndarray         # (n, len(names)) per row
    trained_on: int           # named rows it was fitted on

    @property
    def predicted(self) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[self.proba.argmax(1)]

    @property
    def margin(self) -> np.ndarray:
        """Per row: the most probable name's probability minus the second's (small: unsure)."""
        top = np.sort(self.proba, axis=1)
        return top[:, -1] - top[:, -2]

    def review_next(self, n: int, named: np.ndarray) -> np.ndarray:
        """The n unnamed rows with the smallest margin, least sure first."""
        rows = np.flatnonzero(~np.asarray(named, bool))
        return rows[np.argsort(self.margin[rows], kind="stable")[:n]]


def fit_probe(x: np.ndarray, names: list[str], seed: int = 0, c: float = 1.0) -> Probe | None:
    """x (n, d): every row, as the clusters saw them (preprocessed); names: per row ("" unnamed). None when fewer
    than two names are given (nothing to tell apart)."""
    from sklearn.linear_model import LogisticRegression

    named = np.flatnonzero(np.asarray([bool(v) for v in names]))
    y = np.asarray(names, dtype=object)[named]
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        return None
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed).fit(np.asarray(x[named], np.float32), y)
    proba = np.concatenate([model.predict_proba(np.asarray(x[s:s + 65536], np.float32))
                            for s in range(0, len(x), 65536)]) if len(x) else np.zeros((0, len(classes)))
    order = [list(model.classes_).index(k) for k in classes]
    return Probe(classes, proba[:, order].astype(np.float32), len(named))
