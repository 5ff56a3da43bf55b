"""The centre's shared vocabulary: the formats and rules every part must agree on, each defined once.

Case numbers (`case_numbers`), queue tickets and the hall's rules (`tickets`), the scenes of the centre's QR codes
(`scenes`), mobile numbers (`phones`), what an ID number says (`id_numbers`), how personal data is masked
(`masking`) and the addresses of the /follow pages (`follow_urls`).

Standard library only, Python 3.10 and later: Rasa's environment (the channels) imports it as well as the backend,
the action server, the counter and the devices.
"""
