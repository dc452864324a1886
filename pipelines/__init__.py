"""Item pipelines, in `ITEM_PIPELINES` order: normalise, deduplicate, archive."""

from pipelines.archive import ArchivePipeline
from pipelines.dedupe import DeduplicatePipeline
from pipelines.normalize import NormalizePipeline

__all__ = ["ArchivePipeline", "DeduplicatePipeline", "NormalizePipeline"]
