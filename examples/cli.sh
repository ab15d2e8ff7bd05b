#!/usr/bin/env bash
# The asyncsdk command line, end to end. Reads BIRD_ACCESS_KEY (and BIRD_BASE_URL);
# BIRD_WORKSPACE_ID, BIRD_CHANNEL_ID and BIRD_CALL_IDS name what to fetch.
set -euo pipefail
ws=$BIRD_WORKSPACE_ID
ch=$BIRD_CHANNEL_ID
first=${BIRD_CALL_IDS%% *}

# One call, printed as the API's JSON.
asyncsdk get "$ws" "$ch" "$first"

# Many calls to JSON Lines, one call per line; failures go to calls.failures.jsonl.
printf '%s\n' $BIRD_CALL_IDS > ids.txt
status=0
asyncsdk fetch "$ws" "$ch" --ids ids.txt --out calls.jsonl --no-progress || status=$?
echo "exit code $status, $(wc -l < calls.jsonl) calls, $(wc -l < calls.failures.jsonl) failed"

# Run it again with --resume: IDs already in calls.jsonl are skipped, the rest
# (the failures, or what an interruption left) are fetched and appended.
asyncsdk fetch "$ws" "$ch" --ids ids.txt --out calls.jsonl --no-progress --resume || status=$?
echo "exit code $status"
