"""The end of an in-process benchmark run: the load average after it, printed, and the JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def finish(result: dict[str, Any], json_out: Path | None) -> dict[str, Any]:
    """Record ``load_avg_after`` in ``result`` (which holds ``load_avg_before``), print both, and
    write ``result`` to ``json_out`` if given; returns ``result``."""
    result["load_avg_after"] = os.getloadavg()
    print(f"load average before {result['load_avg_before']}, after {result['load_avg_after']}")
    if json_out:
        json_out.write_text(json.dumps(result, indent=1) + "\n")
    return result
