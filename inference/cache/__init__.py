"""The per-person layer cache: analysis results of one clip, stored in SQLite.

:mod:`inference.cache.layers` holds the cache itself (:class:`LayerCache`);
:mod:`inference.cache.db` its SQLite schema, migrations and meta table, and the records it
hands out; :mod:`inference.cache.edits` the identity edits (merge, split, ... with undo);
:mod:`inference.cache.store` decides where caches live and how clips are identified.
"""

from inference.cache.layers import (
    SCHEMA_VERSION,
    CacheMeta,
    LayerCache,
    PersonLayer,
    TrackSummary,
)
from inference.cache.store import (
    CacheEntry,
    cache_path,
    cache_root,
    clip_content_hash,
    list_caches,
    settings_key,
)

__all__ = [
    "SCHEMA_VERSION",
    "CacheEntry",
    "CacheMeta",
    "LayerCache",
    "PersonLayer",
    "TrackSummary",
    "cache_path",
    "cache_root",
    "clip_content_hash",
    "list_caches",
    "settings_key",
]
