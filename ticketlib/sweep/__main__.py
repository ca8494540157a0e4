"""`python -m ticketlib.sweep ARGS` is `ticketlib sweep ARGS` (ticketlib.cli.main)."""

import sys

from ticketlib.cli.main import main

sys.exit(main(["sweep", *sys.argv[1:]]))
