"""Pretrained encoders (optional extras) beside the block autoencoder."""
