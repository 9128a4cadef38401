"""``python -m jaxrg.cli``: the ``jaxrg`` command."""

import sys

from jaxrg.cli import main

sys.exit(main())
