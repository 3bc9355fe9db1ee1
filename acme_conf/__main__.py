"""`python -m acme_conf` is `acme-client`."""

import sys

from acme_conf.cli import main

sys.exit(main())
