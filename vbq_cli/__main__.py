import sys

from vbq_cli.main import main

sys.exit(main())
