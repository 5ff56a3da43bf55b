"""Devices at the service centre: ticket and receipt printers (ESC/POS over serial), window keypads, the LED board
and announcements; their simulators live in `simulators.devices`."""
