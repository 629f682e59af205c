#!/bin/sh
# Speaks in terminal escape sequences and bidirectional overrides: clears
# the screen, sets the window title, rings the bell, reverses text, in its
# output and in its summary. Adds a line to README.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
printf 'working \033[2J\033]0;pwned\007 on it, \342\200\256desrever\n'
printf 'A line from the agent.\n' >> README
printf 'Fixed \033[31mthe typo\033[0m \342\200\256ereh\n' > "$HANDOFF_SUMMARY"
