import sys

from gladly_import.cli import main

if __name__ == "__main__":
    sys.exit(main())
