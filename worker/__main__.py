"""``python -m worker`` is the same as the ``pinpoint-sync`` command."""

from worker.cli import main

raise SystemExit(main())
