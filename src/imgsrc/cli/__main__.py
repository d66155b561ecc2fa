"""``python -m imgsrc.cli``: the same as the ``imgsrc`` console script."""

from __future__ import annotations

from imgsrc.cli.main import main

main()
