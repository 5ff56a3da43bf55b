"""Devices at the service centre: ticket and receipt printers (ESC/POS over serial), with simulators on ptys."""
