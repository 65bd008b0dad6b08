"""``python -m autogtkd`` runs the CLI."""

import sys

from autogtkd.cli import main

sys.exit(main())
