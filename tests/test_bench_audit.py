import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_audit_export_bench_streams_every_row_with_flat_memory():
    out = subprocess.run(
        [sys.executable, "-m", "bench.audit", "--rows", "20000", "--small", "4000"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result = json.loads(out.stdout[out.stdout.index("{") :])
    assert (result["small"]["rows"], result["large"]["rows"]) == (4000, 20000)
    assert result["naive_list_of_large"]["rows"] == 20000
    assert result["memory_flat"] is True
