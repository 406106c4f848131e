import sys

from agentsmith.cli import main

sys.exit(main())
