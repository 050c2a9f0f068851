"""``python -m egru``: the ``egru`` command line (:func:`egru.cli.main`)."""

from egru.cli import main

raise SystemExit(main())
