"""``python -m engine`` runs the evalbudget command line."""

import sys

from evalbudget.engine.cli import main

sys.exit(main())
