"""core.ask is carried out by the orchestrator (see ask.yaml); this file only exists so that the
pack layout stays that of any other action. Reaching it means it ran without an orchestrator
that knows core.ask."""
import sys

print("core.ask waits for a person inside the orchestrator; it cannot run as a process",
      file=sys.stderr)
sys.exit(2)
