"""``python -m gladly_import``: the same command as ``gladly-import``."""

import sys

from gladly_import.cli import main

if __name__ == "__main__":
    sys.exit(main())
