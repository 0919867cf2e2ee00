#!/usr/bin/env bash
# A batch job with no dependencies: prisn runs it with bash.
#   prisn run examples/job.sh
#   prisn deploy examples/job.sh --schedule "*/5 * * * *"
set -euo pipefail
echo "job ran at $(date -u +%Y-%m-%dT%H:%M:%SZ) with ${#} args: ${*:-none}"
