"""The Rasa side of jiujin: NLU components and channels that run inside the Rasa server (Python 3.10)."""
