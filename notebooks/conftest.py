"""nbval set-up: the notebooks write their runs into a fresh temporary store (never runs/),
and progress bars stay off. Run: see docs/notebooks.md (nbval)."""

import os
import tempfile

os.environ["TICKETLIB_RUNS"] = tempfile.mkdtemp(prefix="ticketlib-nbval-")
os.environ["TQDM_DISABLE"] = "1"
