import sys

from gladly_import.run import main

sys.exit(main())
