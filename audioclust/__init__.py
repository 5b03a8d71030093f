"""audioclust: group audio recordings by how they sound.

The Python API (docs/api.md; audioclust/api.py), imported on first use so that `import audioclust` stays cheap:
audioclust.embed(...), audioclust.cluster(...), audioclust.search(...), write_outputs, export, Embeddings, Clusters, Windowing."""
from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

from audioclust import cluster as _cluster_package  # their __init__ files are a docstring: cheap
from audioclust import embed as _embed_package
from audioclust import search as _search_package

__version__ = "0.1.0"
__all__ = ["Clusters", "Embeddings", "Matches", "Windowing", "cluster", "embed", "export", "search", "write_outputs"]

if TYPE_CHECKING:
    from audioclust.api import Clusters, Embeddings, Matches, Windowing, cluster, embed, export, search, write_outputs  # noqa: F811


class _Step(types.ModuleType):
    """The subpackages audioclust.embed and audioclust.cluster are also the API's steps of the same name: calling
    one calls audioclust.api's function (audioclust.cluster.pipeline and the like stay modules, as imported)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from audioclust import api

        return getattr(api, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


_cluster_package.__class__ = _embed_package.__class__ = _search_package.__class__ = _Step


def __getattr__(name: str) -> Any:
    if name in __all__:
        from audioclust import api

        return getattr(api, name)
    raise AttributeError(f"module 'audioclust' has no attribute {name!r}")
