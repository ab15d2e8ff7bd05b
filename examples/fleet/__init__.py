"""Worker-fleet example: arq workers sharing one Bird rate limit through Redis."""
