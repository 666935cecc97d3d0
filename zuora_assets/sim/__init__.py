"""A Zuora tenant simulator: generated, foreign-key-consistent data served over real HTTP on 127.0.0.1.

    from zuora_assets.sim import Simulator, SimConfig
    with Simulator(SimConfig(seed=7, accounts=40)) as sim:
        sim.base_url, sim.truth("invoice_item", start, end), sim.add_fault({...})

Module map: `config` (SimConfig), `generate`/`timeline`/`columns`/`pools` (the data), `versions` (indexed
version segments, row selections), `store`/`tenant` (versions and changes), `zoql` (Export ZOQL),
`csvfmt` (CSV output format), `aqua` (jobs and files),
`objectquery`, `describe`, `faults` (rule schema), `api` (endpoints), `server` (HTTP), `simulator` (facade).
It shares only the model catalog with the client and never imports the client or dagster.
"""

from zuora_assets.sim.config import SimConfig
from zuora_assets.sim.simulator import Simulator

__all__ = ["SimConfig", "Simulator"]
