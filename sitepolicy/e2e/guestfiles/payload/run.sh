#!/bin/sh
# Entry point of the harness payload inside the guest (see sitepolicy/e2e/guest.py).
exec python3 "$E2E_PAYLOAD/runner.py" "$E2E_PAYLOAD/plan.json" "$E2E_RESULTS"
