"""What the centre prints, as typed documents: the contract between the backend's print spool and the printers.

The backend spools a complete document (`printing.documents`); a printer worker in `devices` renders it as
ESC/POS and prints it. Neither side imports the other: both import this package, which needs only pydantic.
"""
