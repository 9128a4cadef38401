"""``python -m jaxrg.cli``: the ``jaxrg`` command."""

import sys

from jaxrg.cli import main

if __name__ == "__main__":  # importing the module (e.g. to check that every module imports) runs nothing
    sys.exit(main())
