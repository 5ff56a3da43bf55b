"""The one description of the running system and its supervisor.

- `stack.parts`: a part (name, command, environment, health check, readiness time, the parts it comes after) and a
  stack (its parts, in order) as plain data.
- `stack.commands`: the command line of every kind of part, written once.
- `stack.development` and `stack.production`: the two profiles, ``make run`` (embedded defaults, SQLite, the
  simulators, one of each) and ``make run-prod`` (nginx, N replicas, PostgreSQL, Redis; prepared by `deploy`).
- `stack.supervisor`: starts a stack in order, waits for health, restarts or stops parts, stops everything in reverse
  order; its children never outlive it (`stack.process`).
- `stack.systemd`: systemd units generated from the same description.

``python -m stack run`` is ``make run``; ``python -m stack systemd --out DIR`` writes the units.
"""
