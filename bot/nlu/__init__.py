"""Item resolution: from a resident's words (typed or mis-heard by speech recognition) to a catalog item."""
