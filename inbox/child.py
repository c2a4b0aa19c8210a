"""`python -m inbox.child ROLES FD`: one child process of a split `inbox serve` (`inbox.processes`).

ROLES only names the process for `ps`; everything it runs by comes down the pipe at FD.
"""

import sys
from multiprocessing.connection import Connection

from inbox.processes import run_child

if __name__ == "__main__":
    run_child(Connection(int(sys.argv[2])))
