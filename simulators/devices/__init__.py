"""Simulators of the hall's serial devices on pseudo-terminals: printers, window keypads, the LED board."""
