"""``python -m engine`` runs the evalbudget command line."""

import sys

from engine.cli import main

sys.exit(main())
