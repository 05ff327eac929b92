"""``python -m services.carriers``: run the carrier stand-in (an outside system's stand-in)."""

from services.carriers.app import main

main()
