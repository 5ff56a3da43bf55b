"""What both Python environments share about trust: the internal API's service tokens and secret files.

Standard library only: the Rasa environment (its channels) imports it as well as `.venv` (backend, actions,
devices, voice, tools).
"""
