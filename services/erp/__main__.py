"""``python -m services.erp``: run the ERP stand-in (an outside system's stand-in)."""

from services.erp.app import main

main()
