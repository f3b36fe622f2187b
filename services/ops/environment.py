"""What `ptsp up` hands its processes for operations (one call in services/processes.py)."""

from __future__ import annotations

import shutil

from services.settings import Settings

METRICS_DIR = "metrics"


def ops_environment(settings: Settings) -> dict[str, str]:
    """Environment variables for the children of `ptsp up`, made ready here:

    - `PROMETHEUS_MULTIPROC_DIR`: every process writes its counts there and a scrape adds
      them up (prometheus-client's multiprocess mode; the library reads the variable when
      it is first imported, so it must be in the child's environment from the start).
      Emptied at each start: the counts of a previous run's processes are not this run's,
      and files of dead pids would pile up. An operator's own directory is left as is;
    - `PTSP_LOG_FORMAT`: JSON lines unless the operator chose otherwise, the same for
      every process."""
    directory = settings.metrics_dir
    if directory is None:
        directory = settings.data_dir / METRICS_DIR
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(directory.resolve()),
            "PTSP_LOG_FORMAT": settings.log_format or "json"}
