"""``python -m benchmarks``: see ``python -m benchmarks --help``."""

import sys

from benchmarks import main

sys.exit(main())
