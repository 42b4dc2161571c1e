"""``python -m emulator``: see :mod:`emulator.cli`."""

from emulator.cli import main

raise SystemExit(main())
