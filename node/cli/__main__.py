"""`python -m node.cli ...`: the same as `backroom node ...`."""

import sys

from node.cli import main

sys.exit(main())
