"""Ingest stage: read sources as Arrow streams, validate them against the data contract, load atomically."""

from liuliang.ingest.contract import CONTRACTS, TableContract
from liuliang.ingest.loader import IngestSpec, ingest
from liuliang.ingest.report import IngestReport

__all__ = ["CONTRACTS", "IngestReport", "IngestSpec", "TableContract", "ingest"]
