"""Pages the backend serves to screens in the hall (the display board now; the kiosk and the console later)."""
