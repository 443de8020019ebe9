"""Prometheus metrics: the catalogue registered on a registry the caller owns, collectors read
at scrape time, and the pure arithmetic on outcomes that feeds them.

:class:`Metrics` is what every part records into; :func:`exported_sample_names` lists every
sample it can export (the dashboards are checked against it); :func:`size_bucket`,
:data:`SIZE_LABELS` and :func:`utilisation` are the figures other parts share.
"""

from agent.metrics.catalog import Metrics, exported_sample_names
from agent.metrics.observations import SIZE_LABELS, size_bucket, utilisation

__all__ = ["SIZE_LABELS", "Metrics", "exported_sample_names", "size_bucket", "utilisation"]
