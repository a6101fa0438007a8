"""``python -m gladly_import.push …`` is ``gladly-import push …``."""

from gladly_import.push import main

raise SystemExit(main())
