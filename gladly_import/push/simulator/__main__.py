"""``python -m gladly_import.push.simulator [store.jsonl]``: the simulator on its own, until Ctrl-C."""

from gladly_import.push.simulator import main

raise SystemExit(main())
