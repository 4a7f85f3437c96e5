"""The History reads what every worker process counted (prometheus_client's multiprocess mode),
a worker that has exited included. In a child interpreter: the mode is chosen process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, os, tempfile
from hoard import metrics
folder = tempfile.mkdtemp()
metrics.use_directory(folder)
from hoard.dashboard.history import History
now = [0.0]
history = History(clock=lambda: now[0])
metrics.set_worker(0)
metrics.instruments().request("GetObject", 200, 0.01, 5, 7)
history.sample_once()
pid = os.fork()
if pid == 0:
    metrics.set_worker(1)
    for _ in range(4):
        metrics.instruments().request("PutObject", 503, 0.2, 100, 0)
    os._exit(0)
os.waitpid(pid, 0)
metrics.process_exited(pid)
metrics.instruments().request("GetObject", 404, 0.01, 0, 0)
now[0] = 10.0
history.sample_once()
print(json.dumps({"series": history.series(), "operations": history.operations()}))
metrics.remove_directory(folder)
"""


def test_every_worker_is_counted():
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    doc = json.loads(out)
    s = doc["series"]
    assert s["requests"] == [0.5] and s["errors_4xx"] == [0.1] and s["errors_5xx"] == [0.4] and s["bytes_in"] == [40.0]
    assert 100.0 < s["p50_ms"][0] <= 250.0  # 3rd of 5: among the exited worker's 200 ms requests
    assert doc["operations"][0] == {"operation": "PutObject", "requests": 4, "errors_4xx": 0, "errors_5xx": 4}
