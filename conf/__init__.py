# Makes conf/ the package audioclust.conf in an installed wheel (pkg://audioclust.conf for Hydra).
