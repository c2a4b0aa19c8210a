"""`python -m inbox`: the same as the `inbox` console script."""

import sys

from inbox.cli import main

sys.exit(main())
