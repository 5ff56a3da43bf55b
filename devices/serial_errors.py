"""What a pulled cable looks like to a serial driver, the same for every device in the hall."""

from __future__ import annotations

import termios

import serial

PORT_ERRORS = (OSError, serial.SerialException, termios.error)
"""Failed reads and writes, a failed close (termios), a port that no longer opens (pyserial)."""
