# Never runs: the runner checks `endpoints` first and reports a loud SKIP.
echo "reached the script although 127.0.0.1:9 should be unreachable" >&2
exit 1
