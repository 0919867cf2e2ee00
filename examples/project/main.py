"""A project directory: requirements.txt, a sibling module and a data file all ship
together. prisn finds main.py as the entrypoint.

    prisn run examples/project
"""

from pathlib import Path

import humanize

from greeting import greet

names = (Path(__file__).parent / "data" / "names.txt").read_text().split()
for name in names:
    print(greet(name))
print("total size of names:", humanize.naturalsize(sum(len(n) for n in names) * 1024))
