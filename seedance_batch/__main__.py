"""``python -m seedance_batch``: the same as the ``seedance-batch`` command."""

import sys

from seedance_batch.cli import main

sys.exit(main())
