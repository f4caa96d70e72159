"""A seeded, in-memory simulation of one hub and a few stores over a faulty network.

    python -m tests.sim.world 123 --steps 300 --verbose   # replay one seed

- `node.py`: a store node in memory, driving `node.rules` the way `node.service`
  and `node.runner` do (operation ids, grants once by id, releases answered once).
- `hub.py`: the hub in memory, driving `hub.rules` the way `hub.service` does
  (ingest, pull, grant, release requests, web reservations) plus a balancer.
- `net.py`: messages between each store and the hub, dropped, duplicated,
  delayed, reordered, and links cut for hours.
- `check.py`: the invariants, checked after every step.
- `world.py`: the seeded event loop tying them together, and the replay CLI.
"""
