"""Scale-out: ``python -m app library build --ray-address`` on a two-node Ray cluster simulated on
this machine (``ray.cluster_utils.Cluster``: two raylets of one CPU each sharing one GCS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lancedb
import pytest

from app.library.schema import TABLE
from tests.app.library.conftest import write_clips
from tests.paths import REPO

pytestmark = pytest.mark.timeout(300)


def tagger_actor_nodes(address: str) -> set[str]:
    """Nodes the build's TaggerActor actors ran on, from the cluster's actor table (GCS)."""
    import ray
    from ray._private import state

    ray.init(address=address, log_to_driver=False)
    try:
        actors = state.actors().values()
        return {
            a["Address"]["NodeID"] for a in actors if "TaggerActor" in a.get("ActorClassName", "")
        }
    finally:
        ray.shutdown()


def test_build_on_a_two_node_cluster(tmp_path: Path) -> None:
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    cluster = cluster_utils.Cluster()
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        files = write_clips(tmp_path / "music", 4, 2, 3.0)
        library = tmp_path / "library"
        cmd = [sys.executable, "-m", "app", "library", "build", str(tmp_path / "music")]
        cmd += ["--library", str(library), "--ray-address", cluster.address]
        cmd += ["--actors", "2", "--batch-size", "1"]
        env = {**os.environ, "PYTHONPATH": str(REPO), "TAGGER_PROVIDERS": "cpu"}
        env.pop("RAY_ADDRESS", None)
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "6 tagged: 6 ok, 0 failed" in done.stderr and "(2 CPU actor(s))" in done.stderr
        rows = lancedb.connect(str(library)).open_table(TABLE).to_arrow()
        assert sorted(Path(p).name for p in rows.column("path").to_pylist()) == sorted(
            f.name for f in files
        )
        assert len(set(rows.column("id").to_pylist())) == rows.num_rows == 6
        # one CPU per node and one per actor: the two actors ran one on each node
        assert len(tagger_actor_nodes(cluster.address)) == 2
    finally:
        cluster.shutdown()
