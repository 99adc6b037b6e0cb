"""``python -m credentials verify ...``."""

import sys

from credentials.cli import main

sys.exit(main())
