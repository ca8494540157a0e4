"""`python -m ticketlib.sweep ARGS` is `ticketlib sweep ARGS` (ticketlib.cli)."""

import sys

from ..cli import main

sys.exit(main(["sweep", *sys.argv[1:]]))
