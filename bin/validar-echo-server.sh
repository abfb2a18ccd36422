#!/bin/sh
# validar-echo-server.sh [HOST [PORT]]: send a message to the echo server with netcat and
# check that it comes back. Prints exactly one of
#   action: test_echo_server | result: success
#   action: test_echo_server | result: fail
# (fail also when nothing listens, or when netcat is missing). Exit status 0 or 1 to match.
host=${1:-${SERVER_IP:-127.0.0.1}}
port=${2:-${SERVER_PORT:-12345}}
message="herd echo check $$ $(date +%s)"
reply=""
if command -v nc >/dev/null 2>&1; then
    # -w: give up after 3 s of silence (or a connection that never opens); the echo server
    # closes the connection once it has answered.
    reply=$(printf '%s\n' "$message" | nc -w 3 "$host" "$port" 2>/dev/null)
fi
if [ "$reply" = "$message" ]; then
    echo "action: test_echo_server | result: success"
    exit 0
fi
echo "action: test_echo_server | result: fail"
exit 1
