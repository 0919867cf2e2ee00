"""The smallest prisn script: standard library only, nothing to lock.

    prisn run examples/hello.py -- Ada
"""

import platform
import sys

name = sys.argv[1] if len(sys.argv) > 1 else "world"
print(f"hello, {name}, from Python {platform.python_version()}")
