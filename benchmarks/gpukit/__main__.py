import sys

from benchmarks.gpukit.cli import main

sys.exit(main())
