"""`python -m tunesmith ...` is the `tunesmith` command."""

from tunesmith.cli.main import main

raise SystemExit(main())
