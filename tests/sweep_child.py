"""A child process for the sweep kill-and-resume test: run the toy profile of a toy repository
(see test_kill_resume.py) with two local workers. Usage: sweep_child.py ROOT"""

import sys
from pathlib import Path

from ticketlib import sweep

if __name__ == "__main__":  # the local engine's workers are spawned: they re-import this file
    root = Path(sys.argv[1])
    statuses = sweep.run_sweep("toy", store=root / "store", reports=root / "reports", root=root, jobs=2, html=False)
    sys.exit(0 if all(s["status"] == "ok" for s in statuses) else 1)
