"""A Zuora tenant simulator: generated, foreign-key-consistent data served over real HTTP on 127.0.0.1.

    from zuora_assets.sim import Simulator, SimConfig
    with Simulator(SimConfig(seed=7, accounts=40)) as sim:
        sim.base_url, sim.truth("invoice_item", start, end), sim.add_fault({...})

Module map: `config` (SimConfig, JobTiming), `generate`/`billing`/`records`/`values`/`timeline`/`columns`/
`pools` (the data), `versions` (indexed version segments, row selections), `store`/`tenant` (versions and
changes), `zoql`/`plan`/`joins` (ZOQL and Export ZOQL), `csvfmt`/`results` (result files), `aqua`/`jobs`/
`stateful` (AQuA), `actions` (the query action), `exports` (data source exports), `objectquery`, `describe`,
`faults` (rule schema), `api` (endpoints), `control` (/__sim), `server` (HTTP), `simulator` (facade).
It shares only the model catalog with the client and never imports the client or dagster.
"""

from zuora_assets.sim.config import SimConfig
from zuora_assets.sim.simulator import Simulator

__all__ = ["SimConfig", "Simulator"]
