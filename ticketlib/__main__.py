import sys

from ticketlib.cli.main import main

sys.exit(main())
