"""Processing engines for recorded footage: in-process (default) and Ray (a local instance or a cluster).

`streetwatch process VIDEO|FOLDER... [--engine ray --address ADDR --workers N]` builds a
`ProcessPlan` (serve.engines.common) and runs it on an engine; both leave the same cases in the store.
"""

from serve.engines.common import EngineResult, ProcessPlan, VideoJob, build_jobs
from serve.engines.registry import open_engine

__all__ = ["EngineResult", "ProcessPlan", "VideoJob", "build_jobs", "open_engine"]
