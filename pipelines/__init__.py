"""Item pipelines, in `ITEM_PIPELINES` order: normalise, archive.

Deduplication is the archive's: it decides new / updated / unchanged by content hash inside
each batch's write transaction (`crawler.archive.store`), which also holds when several
processes share one archive. The spider already schedules each content id once per run.
"""

from pipelines.archive import ArchivePipeline
from pipelines.normalize import NormalizePipeline

__all__ = ["ArchivePipeline", "NormalizePipeline"]
