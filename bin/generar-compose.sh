#!/bin/sh
# generar-compose.sh FILE N: write the compose file of a lottery server and N agencies
# (see herd/lottery/cli/compose.py). Runs with the project's .venv when there is one.
if [ "$#" -ne 2 ]; then
    echo "usage: $0 FILE N" >&2
    exit 2
fi
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
python="$here/.venv/bin/python"
[ -x "$python" ] || python=python3
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m herd.lottery.cli.compose "$1" "$2"
