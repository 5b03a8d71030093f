"""audioclust: group audio recordings by how they sound."""
__version__ = "0.1.0"
