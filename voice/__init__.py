"""The voice side of the centre: speech out (`voice.tts`) now, the voice counter later."""
