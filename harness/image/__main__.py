"""Entry point of `python -m harness.image`."""

from harness.image.cli import main

raise SystemExit(main())
