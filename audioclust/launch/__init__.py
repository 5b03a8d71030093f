"""Launch plumbing: SLURM requeue, atomic checkpoint IO, signal and Hydra callbacks."""
