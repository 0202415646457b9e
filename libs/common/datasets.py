"""Location of the real Hadoop logs used by tests, evaluations, benchmarks and the demo replay.

The logs are never part of this repository. One setting finds them: ``HFD_DATA_DIR``,
whose default is ``../shared/data`` relative to the repository root.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def data_dir() -> Path:
    """Return the folder of real Hadoop logs (it may not exist on every machine)."""
    configured = os.environ.get("HFD_DATA_DIR")
    return Path(configured).expanduser().resolve() if configured else DEFAULT_DATA_DIR
