"""Speech for the hall and the voice counter, as a library: sound in and out (`voice.audio`, `voice.microphone`,
`voice.loudspeaker`), speech found in sound (`voice.vad`), recognised (`voice.recognizer`, `voice.transcode`) and
spoken (`voice.tts`), and the listening loop with barge-in (`voice.live`). It knows nothing of the counter service or
the backend that use it."""
