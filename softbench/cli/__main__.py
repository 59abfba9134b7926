"""``python -m softbench.cli``."""

from softbench.cli import main

raise SystemExit(main())
