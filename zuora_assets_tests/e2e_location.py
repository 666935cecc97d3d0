"""The code location `dagster dev` loads in the end-to-end tests: the project's definitions, with the wall clock
shifted by the offset the test chose (`time_support.ShiftedClock`, given in its `OFFSET_ENV`).

Webserver, daemon, code server and run workers all load this module, so every one of them reads the same
shifted "now" through the `clock` resource.
"""

import os

from zuora_assets.definitions import load_definitions
from zuora_assets_tests.time_support import ShiftedClock

defs = load_definitions(os.environ, ShiftedClock.from_environment(os.environ, __name__))
