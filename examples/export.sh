#!/usr/bin/env bash
# List a time window's calls to JSON Lines, then fetch each call's details.
# Reads BIRD_ACCESS_KEY (and BIRD_BASE_URL); BIRD_WORKSPACE_ID, BIRD_CHANNEL_ID,
# BIRD_SINCE and BIRD_UNTIL name what to export.
set -euo pipefail
ws=$BIRD_WORKSPACE_ID

# Every call of the channel in the window, exactly once: 8 shards list it
# concurrently, and calls.checkpoint.json records how far each one got. --channel
# keeps the export to the channel that fetch below asks (a call of another is a 404).
asyncsdk export "$ws" --since "$BIRD_SINCE" --until "$BIRD_UNTIL" --out calls.jsonl \
    --channel "$BIRD_CHANNEL_ID" --shards 8 --no-progress
echo "$(wc -l < calls.jsonl) calls listed"

# After an interruption (Ctrl-C, a crash), the same command with --resume continues;
# on a finished export it has nothing left to do.
asyncsdk export "$ws" --since "$BIRD_SINCE" --until "$BIRD_UNTIL" --out calls.jsonl \
    --channel "$BIRD_CHANNEL_ID" --no-progress --resume

# fetch reads the IDs straight from the export.
asyncsdk fetch "$ws" "$BIRD_CHANNEL_ID" --ids calls.jsonl --out details.jsonl --no-progress
echo "$(wc -l < details.jsonl) calls fetched"
