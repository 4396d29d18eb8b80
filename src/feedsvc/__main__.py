"""``python -m feedsvc`` is the ``feedsvc`` command."""

from feedsvc.cli import main

main()
