import sys

from gladly_import.run import main

if __name__ == "__main__":
    sys.exit(main())
