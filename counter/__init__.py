"""The voice counter as its own service (``python -m counter``): the counter's screen (``/kiosk``) and its API, the
residents' sessions at each counter, the turn in front of the dialogue, speech recognition (``/speech/recognize``,
also for WeChat voice notes) and the command line at the microphone (``bin/jiujin counter``)."""
