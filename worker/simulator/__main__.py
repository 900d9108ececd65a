"""`python -m worker.simulator`: run the simulator from the command line."""

import sys

from worker.simulator.server import main

sys.exit(main())
