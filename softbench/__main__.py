"""``python -m softbench``."""

from softbench.cli import main

raise SystemExit(main())
