"""Naming the clusters: a curation (curation.json, made in the explorer or by hand) applied to a fit, and a linear
probe on the named clips that proposes what to review next (Perch's agile loop on our store)."""
